"""What the answer is for a case: oracle values and their error bounds, in the case's layouts.

The oracle works channels-first; this module moves the case's tensors there
and back (:func:`harness.case.ops.to_canonical`), and evaluates each gradient
(:func:`harness.case.ops.evaluate`) twice: on the values (the exact answer) and on
absolute values (``M``); ``n``, the number of products summed into each
element, comes from the geometry (:func:`harness.case.ops.terms`).
:func:`harness.numerics.compare.sum_bound` combines them (with the exact value, which
bounds every partial sum) under the case dtype's
:class:`~harness.numerics.compare.BoundModel`; a second-order grad, a sum of convs, takes
:func:`harness.numerics.compare.bound` per term. All of it is computed once per case and
grad and shared by every impl, variant and claim that is judged against it;
so is what a comparison needs that does not depend on the values judged
(:class:`Expected`'s cached properties). Where the exact value
overflows the case dtype, the expected value is the infinity it correctly
rounds to (:func:`harness.numerics.compare.round_overflow`).

A source's claim may have been printed with fewer digits than the dtype holds;
:func:`claim_tolerance` is what that printing adds to the bound.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Optional, Union

import numpy as np

from harness.numerics import compare
from harness.case import ops
from harness.case.model import Case, Claim
from harness.case.values import Inputs


@dataclass(frozen=True)
class Expected:
    """Oracle values and bounds of one gradient, laid out as the case says."""

    values: np.ndarray         # exact, or the infinity it certainly rounds to
    bound: np.ndarray          # per element, under ``model``
    magnitude: np.ndarray      # M: the sum over absolute values
    terms: np.ndarray          # n: products per element
    model: compare.BoundModel
    may_overflow: Optional[np.ndarray] = None   # where an infinity is right too
    # a second-order grad's roundings of its terms before their sum (deterministic)
    term_roundings: Union[float, np.ndarray] = 0.0
    # a plain sum of products (y, dx, dw), bounded by compare.sum_bound; False: a sum of
    # convs (forward mode, second order), bounded by compare.bound per term
    summed: bool = True

    @cached_property
    def storage_bound(self) -> Optional[np.ndarray]:
        """The bound with accumulation in the output dtype, where the model's accumulator
        is another (float16, bfloat16): whether a failure's error fits that instead."""
        if self.model.accumulate == self.model.output:
            return None
        with np.errstate(invalid="ignore", over="ignore"):
            return compare.bound(self.values, self.magnitude, self.terms, self.model.storage)

    @cached_property
    def probable_bound(self) -> np.ndarray:
        """The statistical line, never above the hard bound: a plain sum's
        (:func:`harness.numerics.compare.sum_probable_bound`), or a sum of convs'
        (:func:`harness.numerics.compare.probable_bound`)."""
        if self.summed:
            line = compare.sum_probable_bound(self.values, self.magnitude, self.terms,
                                              self.model)
        else:
            line = compare.probable_bound(self.values, self.magnitude, self.terms, self.model,
                                          extra=self.term_roundings)
        with np.errstate(invalid="ignore"):
            return np.fmin(line, self.bound)

    @cached_property
    def active(self) -> np.ndarray:
        """The elements that sum at least one product."""
        return self.terms > 0

    @cached_property
    def vacuous_share(self) -> float:
        """:func:`harness.numerics.compare.vacuous_share` of the bound (without any ``extra``)."""
        return compare.vacuous_share(self.bound, self.values, self.active)

    def compare(self, actual: np.ndarray,
                extra: Union[float, np.ndarray, None] = None) -> compare.Comparison:
        """Judge ``actual``; ``extra`` is added to the bound (a claim's printing)."""
        limit, storage, vacuous = self.bound, self.storage_bound, None
        if extra is not None:
            limit = limit + extra
            storage = None if storage is None else storage + extra
        else:
            vacuous = self.vacuous_share
        return compare.compare(actual, self.values, limit, may_overflow=self.may_overflow,
                               model=self.model, active=self.active,
                               storage_limit=storage, vacuous=vacuous,
                               probable_limit=self.probable_bound if extra is None else None)

    def judge_claim(self, claim: Claim, claimed: np.ndarray) -> compare.Comparison:
        """Judge a source's claimed values, allowing for how the source printed them."""
        return self.compare(claimed, claim_tolerance(claim, claimed, self.values))


def claim_tolerance(claim: Claim, claimed: np.ndarray,
                    exact: np.ndarray) -> Union[float, np.ndarray]:
    """What a claim's printed precision adds to the bound, per element::

        extra = atol + rtol * |exact|                    (as the source states them)
              + 10**-decimals / 2 + u64 * |claimed|      (printed to ``decimals`` places)

    Half a unit in the last printed digit is the rounding done for printing; the
    ``u64`` term is the printed decimal's own rounding to float64 when read back.
    Nothing is added for a claim that says neither: it is judged as computed
    values (the number of digits written says nothing about precision, since
    shortest round-trip printing writes ``0.1`` for float32's full ``0.1``).
    """
    extra: Union[float, np.ndarray] = 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        if claim.atol:
            extra = extra + claim.atol
        if claim.rtol:
            extra = extra + claim.rtol * np.abs(exact)
        if claim.decimals is not None:
            half_unit = 0.5 * 10.0 ** -claim.decimals * (1 + 2 * compare.U64)
            extra = extra + half_unit + compare.U64 * np.abs(claimed)
    return extra


def expected_from_canonical(case: Case, grad: str, x: np.ndarray, w: np.ndarray,
                            dy: np.ndarray, out: Callable[[np.ndarray], np.ndarray],
                            model: Optional[compare.BoundModel] = None,
                            evaluate: Callable = ops.evaluate) -> Expected:
    """One grad's oracle values and bound from channels-first tensors; ``out`` lays a
    channels-first result out as the caller wants it (the case's layout, usually).
    ``evaluate`` (:func:`harness.case.ops.evaluate`'s signature) is what a diagnosis
    replaces to compute what a mistaken implementation did."""
    model = model or compare.BoundModel.for_dtype(case.dtype)
    exact = evaluate(case, grad, x, w, dy)
    with np.errstate(invalid="ignore", over="ignore"):
        magnitude = evaluate(case, grad, np.abs(x), np.abs(w), np.abs(dy))
    terms = _terms_for(case, grad, exact)
    acc, limit = compare.sum_bound(exact, magnitude, terms, model)
    values, may_overflow = compare.round_overflow(exact, acc, model.output)
    del acc
    return Expected(values=out(values), bound=out(limit), magnitude=out(magnitude),
                    terms=out(terms), model=model,
                    may_overflow=out(may_overflow) if may_overflow.any() else None)


def _terms_for(case: Case, grad: str, values: np.ndarray) -> np.ndarray:
    """:func:`harness.case.ops.terms` of ``grad``; where ``values`` has another shape (a
    diagnosis' mistaken arithmetic changed it), the largest count everywhere."""
    terms = ops.terms(case, grad)
    if np.shape(terms) != np.shape(values):
        terms = np.full(np.shape(values), np.max(terms, initial=0))
    return terms


def expected_second_order(case: Case, grad: str, tensors: dict[str, np.ndarray],
                          out: Callable[[np.ndarray], np.ndarray],
                          model: Optional[compare.BoundModel] = None,
                          evaluate: Callable = ops.evaluate) -> Expected:
    """A forward-mode or second-order grad (:data:`harness.case.ops.SECOND_ORDER_TERMS`):
    a sum of first-order convs with tangents swapped in, from channels-first ``tensors``.

    Its bound: each term ``t_i`` is a conv of ``n_i`` products and magnitude ``M_i``, computed
    by a correct implementation within ``acc_i`` (:func:`harness.numerics.compare.
    accumulation_error`) and rounded to the output dtype before the terms are added (what
    autodiff does: one conv per term, then a sum), so before the final rounding the sum is
    within ``sum(acc_i + u_out * (|t_i| + acc_i) + eta_out)`` of the exact value (one term:
    just ``acc_1``); the final rounding adds ``u_out * (|exact| + that) + eta_out``, as
    for a first-order grad."""
    model = model or compare.BoundModel.for_dtype(case.dtype)
    parts = ops.SECOND_ORDER_TERMS[grad]
    exact = magnitude = slack = roundings = 0.0
    n = 0
    u_out, eta_out = compare.UNIT_ROUNDOFF[model.output], compare.UNDERFLOW[model.output]
    with np.errstate(invalid="ignore", over="ignore"):
        for base, swap in parts:
            args = {t: tensors[swap.get(t, t)] for t in ("x", "w", "dy")}
            term = evaluate(case, base, args["x"], args["w"], args["dy"])
            size = evaluate(case, base, *(np.abs(args[t]) for t in ("x", "w", "dy")))
            count = _terms_for(case, base, term)
            acc = compare.accumulation_error(size, count, model)
            if len(parts) > 1:     # each term is rounded to the output dtype, then added
                rounding = u_out * (np.abs(term) + acc) + eta_out
                acc, roundings = acc + rounding, roundings + rounding
            exact, magnitude, slack, n = exact + term, magnitude + size, slack + acc, n + count
        limit = compare.bound(exact, magnitude, n, model, acc=slack)
    values, may_overflow = compare.round_overflow(exact, slack, model.output)
    return Expected(values=out(values), bound=out(limit), magnitude=out(magnitude),
                    terms=out(n), model=model,
                    may_overflow=out(may_overflow) if may_overflow.any() else None,
                    term_roundings=out(roundings) if np.ndim(roundings) else roundings,
                    summed=False)


def expected(case: Case, inputs: Inputs,
             model: Optional[compare.BoundModel] = None) -> dict[str, Expected]:
    """Oracle values and per-element bounds for every grad of the case (under ``model``,
    by default the case dtype's :meth:`~harness.numerics.compare.BoundModel.for_dtype`)."""
    names = {t for g in case.grads for t in (ops.tensors_needed(g) + ("x", "w", "dy"))}
    tensors = {name: ops.to_canonical(case, name, inputs.get(name)) for name in names}
    out = {}
    for grad in case.grads:
        lay_out = (lambda a, g=grad: ops.from_canonical(case, g, a))
        if grad in ops.SECOND_ORDER_TERMS:
            out[grad] = expected_second_order(case, grad, tensors, lay_out, model)
        else:
            out[grad] = expected_from_canonical(case, grad, tensors["x"], tensors["w"],
                                                tensors["dy"], lay_out, model)
    return out
