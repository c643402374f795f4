"""Judge computed values against the oracle with a bound from error analysis.

The model (:class:`BoundModel`): the inputs are already in the case dtype (they
are rounded before anything is computed); each element is a sum of ``n``
products accumulated in the *accumulator* dtype, then rounded once to the
*output* dtype. A correct implementation then stays within::

    acc   = n * u_acc * M  +  n * eta_acc  +  n * u64 * M
    bound = acc  +  u_out * (|exact| + acc)  +  eta_out

of the exact value. ``acc`` is how far the running sum may be from it (the
products and sums in the accumulator, and the float64 oracle's own error); the
rest is the one rounding of that sum to the output dtype. ``M`` is the same
sum over absolute values (the oracle run on ``|x|, |w|, |dy|``), ``n`` is
counted per element (the oracle run on ones), ``u`` is a dtype's unit roundoff
and ``eta`` half the spacing of its subnormals: a result that underflows has
an absolute error up to ``eta``, not a relative one (additions are exact
there, so only the ``n`` products and the final rounding underflow). The
accumulation term is first order, as usual (``n*u`` rather than
``n*u / (1 - n*u)``: a relative difference below 1e-3 for float32 sums of up
to 16,000 products). The accumulator is float32 for float16 and bfloat16
(:data:`harness.numerics.dtypes.ACCUMULATOR`), the case dtype otherwise.

Overflow: the expected value is the *correctly rounded* result. Where the
exact value, give or take the accumulation error, is at or above the output
dtype's overflow threshold (largest finite plus half its ULP), the right
answer is an infinity of the exact value's sign (:func:`round_overflow`); where
the accumulation error straddles the threshold, either that infinity or a
finite value within the bound is right.

For the sums of products of a first-order grad (``y``, ``dx``, ``dw``: every element a
plain sum of ``n`` products of the inputs) the accumulation term is tighter
(:func:`sum_bound`, issue 22)::

    Q     = (M + |exact|) / 2                    no partial sum is larger
    acc   = (u_acc + u64) * ((n - 1) * Q + M)  +  n * eta_acc
    bound = acc                                  accumulated in the output dtype
          = acc + u_out * (|exact| + acc) + eta_out     otherwise (float16, bfloat16)

In any summation order (sequential, blocked, pairwise, over threads: any tree), each of
the ``n - 1`` additions errs by at most ``u`` times its result, a partial sum; a partial
sum adds a subset of the products, so it is at most the larger of ``P`` (the positive
products' sum) and ``N`` (the negative ones' magnitudes), and ``P + N = M``,
``P - N = exact`` make that ``Q``. Each product adds at most ``u`` times itself
(``u * M``: none with a fused multiply-add, which is not assumed). The float64 oracle is
such a sum too (the ``u64`` part). Where the accumulator is the output dtype there is no
rounding after the sum: its last addition is the rounding to the output dtype, which
:func:`bound` counts again. With zero-mean data ``Q`` is about ``M / 2`` and the bound
about half of :func:`bound`'s; with data of one sign ``Q = M`` and only the rounding
counted twice goes. It assumes what :func:`bound` assumes, that the result is a sum of
the same ``n`` products (not Winograd or FFT arithmetic), and it is first order as
that is. Second-order grads (sums of convs) keep :func:`bound`.

The verdict is ``max |err| / bound``: at most 1 passes. Nothing is masked:
NaN must meet NaN, an infinity the same infinity. Comparison never raises.

A second, statistical line (:func:`probable_bound`): where rounding errors are
independent and of mean zero, a sum of ``n`` products is within about
``lambda * sqrt(n) * u_acc * M`` of the exact value, except with probability at most
``2 * exp(-lambda**2 / 2)`` per element (Higham & Mary, "A new approach to
probabilistic rounding error analysis", SISC 2019). An element of a passing verdict
beyond that (with :data:`PROBABLE_LAMBDA` = 6: 3e-8 per element) is *improbable*:
within the hard bound, so no failure, but marked, so a near-miss is seen. The
model's assumptions fail for data with a non-zero mean and for sums that stagnate in
16 bits; the rate of such marks on clean sweeps is measured, not assumed
(benchmarks/statistical.py).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Optional

import numpy as np

from harness.numerics.dtypes import ACCUMULATOR, UNDERFLOW, UNIT_ROUNDOFF, overflow_threshold

U64 = UNIT_ROUNDOFF["float64"]

# The bound is called vacuous when it exceeds |exact| at more than this share of
# the elements that sum products: then a result of the wrong sign, or zero, passes.
VACUOUS_SHARE = 0.5


@dataclass(frozen=True)
class BoundModel:
    """How a correct implementation is assumed to compute: accumulate, then round once."""

    accumulate: str   # dtype of the running sum
    output: str       # dtype of the result

    @classmethod
    def for_dtype(cls, dtype: str, accumulate: Optional[str] = None) -> "BoundModel":
        """The model for a case dtype; ``accumulate`` is a dtype name, ``"storage"`` (the
        case dtype itself) or None (the default, :data:`harness.numerics.dtypes.ACCUMULATOR`)."""
        if accumulate in (None, "default"):
            accumulate = ACCUMULATOR[dtype]
        elif accumulate == "storage":
            accumulate = dtype
        if accumulate not in UNIT_ROUNDOFF:
            raise ValueError(f"unknown accumulator {accumulate!r}; expected one of "
                             f"{', '.join(UNIT_ROUNDOFF)}, 'storage' or 'default'")
        return cls(accumulate, dtype)

    @property
    def storage(self) -> "BoundModel":
        """The same computation accumulated in the output dtype."""
        return BoundModel(self.output, self.output)

    def to_dict(self) -> dict:
        return {"accumulate": self.accumulate, "output": self.output}


def _model(dtype_or_model, accumulate: Optional[str] = None) -> BoundModel:
    if isinstance(dtype_or_model, BoundModel):
        return dtype_or_model
    return BoundModel.for_dtype(dtype_or_model, accumulate)


def accumulation_error(magnitude: np.ndarray, terms: np.ndarray, model) -> np.ndarray:
    """Everything but the final rounding: ``n*u_acc*M + n*eta_acc + n*u64*M``.

    How far a correct implementation's running sum (and the oracle) may be from
    the exact value before the result is rounded to the output dtype.
    """
    m = _model(model)
    u_acc, eta_acc = UNIT_ROUNDOFF[m.accumulate], UNDERFLOW[m.accumulate]
    with np.errstate(invalid="ignore", over="ignore"):
        return terms * u_acc * magnitude + terms * eta_acc + terms * U64 * magnitude


def partial_sum_limit(exact: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """``Q = (M + |exact|) / 2``: no partial sum of the products of an element, in any order,
    is larger (it adds a subset of them: at most ``max(P, N)``, the positive products' sum
    or the negative ones' magnitudes; ``P + N = M`` and ``P - N = exact``)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return 0.5 * (magnitude + np.abs(exact))


def sum_error(exact: np.ndarray, magnitude: np.ndarray, terms: np.ndarray,
              model) -> np.ndarray:
    """How far a sum of ``n`` products accumulated in ``model.accumulate``, in any order, and
    the float64 oracle's own sum may be from the exact value: ``(u_acc + u64) * ((n - 1) * Q
    + M) + n * eta_acc`` (the module docstring; :func:`accumulation_error` with ``n * M``
    tightened to ``(n - 1) * Q + M``, never above it)."""
    m = _model(model)
    u_acc, eta_acc = UNIT_ROUNDOFF[m.accumulate], UNDERFLOW[m.accumulate]
    with np.errstate(invalid="ignore", over="ignore"):
        additions = np.maximum(np.asarray(terms, dtype=np.float64) - 1.0, 0.0)
        partial = additions * partial_sum_limit(exact, magnitude) + magnitude
        return (u_acc + U64) * partial + terms * eta_acc


def sum_bound(exact: np.ndarray, magnitude: np.ndarray, terms: np.ndarray,
              model) -> tuple[np.ndarray, np.ndarray]:
    """``(acc, bound)`` of a first-order grad: :func:`sum_error`, and the bound, which adds
    the rounding to the output dtype only where the accumulator is another dtype (where it
    is the output dtype, the sum's last addition is that rounding)."""
    m = _model(model)
    acc = sum_error(exact, magnitude, terms, m)
    if m.accumulate == m.output:
        return acc, acc
    return acc, bound(exact, magnitude, terms, m, acc=acc)


PROBABLE_LAMBDA = 6.0


def probable_bound(exact: np.ndarray, magnitude: np.ndarray, terms: np.ndarray,
                   model, lam: float = PROBABLE_LAMBDA, extra=0.0) -> np.ndarray:
    """The statistical line: :func:`bound` with the accumulation's ``n * u_acc * M`` taken
    as ``min(lam * sqrt(n), n) * u_acc * M`` (everything else as deterministic as before),
    so it is never above :func:`bound` (a caller judging by :func:`sum_bound` takes the
    smaller of the two, :attr:`harness.verdict.expected.Expected.probable_bound`).
    ``extra``: deterministic slack the hard bound has besides (a second-order grad's
    roundings of its terms), added as it is."""
    m = _model(model)
    u_acc, eta_acc = UNIT_ROUNDOFF[m.accumulate], UNDERFLOW[m.accumulate]
    u_out, eta_out = UNIT_ROUNDOFF[m.output], UNDERFLOW[m.output]
    with np.errstate(invalid="ignore", over="ignore"):
        growth = np.minimum(lam * np.sqrt(terms), terms)
        acc = growth * u_acc * magnitude + terms * eta_acc + terms * U64 * magnitude + extra
        return acc + u_out * (np.abs(exact) + acc) + eta_out


def sum_probable_bound(exact: np.ndarray, magnitude: np.ndarray, terms: np.ndarray,
                       model, lam: float = PROBABLE_LAMBDA) -> np.ndarray:
    """The statistical line of a first-order grad, as :func:`sum_bound` is its hard bound:
    the implementation's accumulation ``u_acc * ((n - 1) * Q + M)`` taken as
    ``u_acc * min(lam * sqrt(n) * M, (n - 1) * Q + M)``; the oracle's share, the underflow
    and the rounding to another output dtype as deterministic as in :func:`sum_bound`. Never
    above it."""
    m = _model(model)
    u_acc, eta_acc = UNIT_ROUNDOFF[m.accumulate], UNDERFLOW[m.accumulate]
    u_out, eta_out = UNIT_ROUNDOFF[m.output], UNDERFLOW[m.output]
    with np.errstate(invalid="ignore", over="ignore"):
        additions = np.maximum(np.asarray(terms, dtype=np.float64) - 1.0, 0.0)
        partial = additions * partial_sum_limit(exact, magnitude) + magnitude
        growth = np.fmin(lam * np.sqrt(terms) * magnitude, partial)
        acc = u_acc * growth + U64 * partial + terms * eta_acc
        if m.accumulate == m.output:
            return acc
        return acc + u_out * (np.abs(exact) + acc) + eta_out


def bound(exact: np.ndarray, magnitude: np.ndarray, terms: np.ndarray, dtype,
          accumulate: Optional[str] = None, acc: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-element error bound (see the module docstring).

    ``dtype`` is the case (output) dtype or a :class:`BoundModel`; ``accumulate``
    overrides the accumulator (a dtype name or ``"storage"``); ``acc`` is
    :func:`accumulation_error` under that model, where the caller has it already.
    """
    m = _model(dtype, accumulate)
    u_out, eta_out = UNIT_ROUNDOFF[m.output], UNDERFLOW[m.output]
    if acc is None:
        acc = accumulation_error(magnitude, terms, m)
    with np.errstate(invalid="ignore", over="ignore"):
        return acc + u_out * (np.abs(exact) + acc) + eta_out


def round_overflow(exact: np.ndarray, slack: np.ndarray,
                   dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """The expected values where the correctly rounded result is infinite.

    ``slack`` is how far a correct running sum may be from ``exact`` before the
    final rounding (:func:`accumulation_error`). With ``t`` the output dtype's
    overflow threshold, an element is

    * certainly infinite where ``|exact| - slack >= t``: the expected value
      becomes ``copysign(inf, exact)`` and only that infinity passes;
    * possibly infinite where ``|exact| - slack < t <= |exact| + slack``: a
      correct implementation may round to the largest finite value or to
      infinity, so both pass (the second array is True there);
    * finite otherwise, judged against the bound as usual.
    """
    threshold = overflow_threshold(dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        size = np.abs(exact)
        finite = np.isfinite(exact)
        certain = finite & (size - slack >= threshold)
        possible = finite & ~certain & (size + slack >= threshold)
    values = np.where(certain, np.copysign(np.inf, exact), exact)
    return values, possible


def vacuous_share(limit: np.ndarray, exact: np.ndarray,
                  active: Optional[np.ndarray] = None) -> float:
    """Share of the elements (those that sum at least one product, when ``active`` says
    which) with a finite exact value where the bound exceeds ``|exact|``."""
    with np.errstate(invalid="ignore"):
        counted = np.isfinite(exact) & np.isfinite(limit)
        if active is not None:
            counted &= active
        total = int(np.count_nonzero(counted))
        if total == 0:
            return 0.0
        return int(np.count_nonzero(counted & (limit > np.abs(exact)))) / total


@dataclass
class Comparison:
    """What one comparison found; ``passed`` is the whole verdict."""

    passed: bool
    message: str
    total: int = 0
    mismatched: int = 0
    error_ratio: Optional[float] = None
    max_abs_error: Optional[float] = None          # over all elements
    max_abs_index: Optional[list[int]] = None
    max_rel_error: Optional[float] = None
    max_rel_index: Optional[list[int]] = None
    mismatched_max_abs_error: Optional[float] = None   # over mismatched elements only
    mismatched_max_abs_index: Optional[list[int]] = None
    mismatched_max_rel_error: Optional[float] = None
    mismatched_max_rel_index: Optional[list[int]] = None
    worst_index: Optional[list[int]] = None
    worst_expected: Optional[float] = None
    worst_actual: Optional[float] = None
    worst_bound: Optional[float] = None
    bound_model: Optional[dict] = None    # {"accumulate": ..., "output": ...}
    vacuous: Optional[bool] = None        # the bound exceeds |exact| at most elements
    vacuous_percent: Optional[float] = None
    storage_fits: Optional[bool] = None   # a failure whose error fits accumulation in the
    #                                       output dtype (None: not asked or not applicable)
    storage_vacuous: Optional[bool] = None  # ... where that bound is vacuous anyway
    improbable: Optional[int] = None      # a pass's elements beyond the statistical line
    improbable_ratio: Optional[float] = None   # their greatest |err| / probable bound
    ratio: Optional[np.ndarray] = field(default=None, repr=False)  # |err| / bound, per element

    @property
    def mismatch_percent(self) -> float:
        return 100.0 * self.mismatched / self.total if self.total else 0.0

    def stats(self) -> dict:
        # the verdict carries status and message; the ratio array stays out (and is not
        # copied, as asdict would: 13 MB a verdict on a ResNet layer)
        out = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)
               if f.name not in ("ratio", "passed", "message")}
        out["mismatch_percent"] = self.mismatch_percent
        return out


def _nonfinite_mismatch(actual: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Elements where NaN / inf in either array do not match exactly."""
    both_nan = np.isnan(actual) & np.isnan(exact)
    same_inf = np.isinf(exact) & (actual == exact)
    nonfinite = ~np.isfinite(actual) | ~np.isfinite(exact)
    return nonfinite & ~both_nan & ~same_inf


def _index(flat: int, shape: tuple) -> list[int]:
    return [int(i) for i in np.unravel_index(flat, shape)]


def _argmax_where(values: np.ndarray, where: np.ndarray) -> int:
    return int(np.argmax(np.where(where, values, -np.inf)))


def compare(actual: np.ndarray, exact: np.ndarray, limit: np.ndarray, *,
            may_overflow: Optional[np.ndarray] = None, model: Optional[BoundModel] = None,
            active: Optional[np.ndarray] = None,
            storage_limit: Optional[np.ndarray] = None,
            vacuous: Optional[float] = None,
            probable_limit: Optional[np.ndarray] = None) -> Comparison:
    """Compare ``actual`` with ``exact`` element-wise against the bound ``limit``.

    ``exact`` is the expected value (infinite where it certainly overflows, see
    :func:`round_overflow`); where ``may_overflow`` is True the infinity of
    ``exact``'s sign passes too. ``model`` is recorded in the stats; ``active``
    marks the elements that sum products (for the vacuous-bound warning);
    ``storage_limit``, the bound with accumulation in the output dtype, lets a
    failure say whether its error fits that instead of the model's accumulator.
    ``vacuous`` is :func:`vacuous_share` of ``limit``, ``exact`` and ``active``, where
    the caller has it (it does not depend on ``actual``). ``probable_limit``
    (:func:`probable_bound`) counts a pass's improbable elements.
    """
    actual = np.asarray(actual)
    if actual.dtype not in (np.float32, np.float64):   # float16, bfloat16, integers
        actual = actual.astype(np.float64)
    if actual.shape != exact.shape:
        empty = " (an empty tensor)" if exact.size == 0 else ""
        return Comparison(False, f"shape {list(actual.shape)} differs from the expected "
                                 f"{list(exact.shape)}{empty}", total=int(exact.size))
    if exact.size == 0:
        return Comparison(True, f"empty tensor, shape {list(exact.shape)}, as expected",
                          total=0, error_ratio=0.0)
    err, ratio, rel = _errors(actual, exact, limit, may_overflow)
    over = ratio > 1.0
    mismatched = int(np.count_nonzero(over))
    worst = int(np.argmax(ratio))
    abs_at, rel_at = int(np.argmax(err)), int(np.argmax(rel))
    result = Comparison(
        passed=mismatched == 0, message="", total=int(exact.size), mismatched=mismatched,
        error_ratio=float(ratio.flat[worst]), max_abs_error=float(err.flat[abs_at]),
        max_abs_index=_index(abs_at, exact.shape), max_rel_error=float(rel.flat[rel_at]),
        max_rel_index=_index(rel_at, exact.shape), worst_index=_index(worst, exact.shape),
        worst_expected=float(exact.flat[worst]), worst_actual=float(actual.flat[worst]),
        worst_bound=float(limit.flat[worst]), ratio=ratio,
        bound_model=model.to_dict() if model else None)
    if mismatched:
        abs_at, rel_at = _argmax_where(err, over), _argmax_where(rel, over)
        result.mismatched_max_abs_error = float(err.flat[abs_at])
        result.mismatched_max_abs_index = _index(abs_at, exact.shape)
        result.mismatched_max_rel_error = float(rel.flat[rel_at])
        result.mismatched_max_rel_index = _index(rel_at, exact.shape)
        if storage_limit is not None and model and model.accumulate != model.output:
            with np.errstate(invalid="ignore"):
                result.storage_fits = bool(np.all(np.isfinite(err[over])
                                                  & (err[over] <= storage_limit[over])))
    if probable_limit is not None and result.passed:
        with np.errstate(invalid="ignore", divide="ignore"):
            beyond = (err / probable_limit)
        beyond = np.where(err == 0, 0.0, beyond)
        result.improbable = int(np.count_nonzero(beyond > 1.0))
        result.improbable_ratio = float(np.max(beyond, initial=0.0))
    share = vacuous_share(limit, exact, active) if vacuous is None else vacuous
    result.vacuous, result.vacuous_percent = share > VACUOUS_SHARE, 100.0 * share
    if result.storage_fits:
        result.storage_vacuous = vacuous_share(storage_limit[over], exact[over]) > VACUOUS_SHARE
    result.message = message(result)
    return result


def _errors(actual: np.ndarray, exact: np.ndarray, limit: np.ndarray,
            may_overflow: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``|err|``, ``|err| / limit`` and ``|err| / |exact|`` per element, float64 (``actual``
    is float32 or float64; the arithmetic is float64's either way). An error of 0 has
    ratios 0; a ratio that is NaN (an infinite error over an infinite bound) is infinite.
    NaN meeting NaN and an infinity meeting the same infinity are no error (nor, where
    ``may_overflow`` says so, the infinity of ``exact``'s sign); any other non-finite
    value in either is an infinite error.

    Where both are finite throughout (nearly always) none of that applies and each
    array is computed once, in place, rather than through a chain of ``np.where``."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if np.isfinite(actual).all() and np.isfinite(exact).all():
            err = np.subtract(actual, exact, dtype=np.float64)
            np.abs(err, out=err)
            zero = err == 0
        else:
            actual = actual.astype(np.float64, copy=False)
            err = np.abs(actual - exact)
            err = np.where(np.isnan(actual) & np.isnan(exact), 0.0, err)
            err = np.where(np.isinf(exact) & (actual == exact), 0.0, err)
            bad_nonfinite = _nonfinite_mismatch(actual, exact)
            if may_overflow is not None:
                overflowed = may_overflow & (actual == np.copysign(np.inf, exact))
                err = np.where(overflowed, 0.0, err)
                bad_nonfinite &= ~overflowed
            err = np.where(bad_nonfinite, np.inf, err)
            zero = err == 0
        ratio = np.divide(err, limit)
        rel = np.divide(err, np.abs(exact))
        for a in (ratio, rel):
            a[zero] = 0.0
            a[np.isnan(a)] = np.inf
    return err, ratio, rel


def message(c: Comparison) -> str:
    """The mismatch message, in the spirit of ``torch.testing.assert_close``.

    The greatest absolute and relative differences are those of the mismatched
    elements (an element within its bound is no evidence of anything).
    """
    if c.passed:
        lines = [f"all {c.total} elements within bound (greatest |err| / bound = "
                 f"{c.error_ratio:.3g})"]
    else:
        lines = [f"Mismatched elements: {c.mismatched} / {c.total} ({c.mismatch_percent:.1f}%)",
                 f"Greatest absolute difference: {c.mismatched_max_abs_error:.6g} at index "
                 f"{tuple(c.mismatched_max_abs_index)}",
                 f"Greatest relative difference: {c.mismatched_max_rel_error:.6g} at index "
                 f"{tuple(c.mismatched_max_rel_index)}",
                 f"Worst element (|err| / bound = {c.error_ratio:.3g}) at index "
                 f"{tuple(c.worst_index)}: expected {c.worst_expected!r}, got "
                 f"{c.worst_actual!r}, bound {c.worst_bound:.3g}"]
    if c.storage_fits:
        m = c.bound_model
        line = (f"the error fits accumulation in {m['output']}, not the {m['accumulate']} "
                f"accumulation the model assumes")
        if c.storage_vacuous:
            line += (f" (but a {m['output']} accumulation bound is vacuous at most of these "
                     f"elements: any error of this size fits it)")
        lines.append(line)
    if c.improbable:
        lines.append(f"improbable: {c.improbable} element{'s' if c.improbable != 1 else ''} "
                     f"beyond the statistical line (|err| / it up to {c.improbable_ratio:.3g}; "
                     f"lambda {PROBABLE_LAMBDA:g}, Higham & Mary): within the hard bound, so "
                     "no failure, but rarer than independent roundings make it")
    if c.vacuous:
        lines.append(f"warning: the bound is vacuous: it exceeds |exact| at "
                     f"{c.vacuous_percent:.0f}% of the elements, so a result of the wrong "
                     f"sign or zero would pass there")
    return "\n".join(lines)
