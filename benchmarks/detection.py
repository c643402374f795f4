#!/usr/bin/env python3
"""Detection power: the smallest error in a conv's y, dx or dw that convgrad catches, against
the smallest that each framework's published test tolerance catches, on the same values.

No framework is imported: each checker is its published criterion applied to the values.

* convgrad: ``not Expected.compare(actual).passed`` (the hard bound of
  :mod:`harness.numerics.compare`, per element, against the float64 oracle);
* statistical: convgrad's statistical line, ``Expected.compare(actual)`` failed or marked
  *improbable* (an element beyond ``lambda * sqrt(n)``; a mark, not a failure, unless
  ``--strict-statistical``);
* ``torch.testing.assert_close`` defaults: ``|a - e| <= atol + rtol * |e|`` with
  (rtol, atol) float64 (1e-7, 1e-7), float32 (1.3e-6, 1e-5), float16 (1e-3, 1e-5),
  bfloat16 (1.6e-2, 1e-5);
* TensorFlow ``assertAllCloseAccordingToType`` defaults: rtol = atol = 1e-6 (float64,
  float32), 1e-3 (float16), 1e-2 (bfloat16), through ``np.allclose(a, b)`` whose relative
  term is ``rtol * |b|``, ``b`` being the *actual* value in TF's docstring;
* JAX's gradient tolerance ``jax._src.public_test_util.default_gradient_tolerance``:
  float64 1e-5, float32 2e-3, float16 1e-2, bfloat16 1e-1, as ``atol = rtol = tol`` with
  ``numpy.testing.assert_allclose`` semantics (``rtol * |desired|``). (``check_grads``
  itself compares random projections of the gradient with it; this is the tolerance
  applied elementwise, as a test that compares gradient arrays with it does);
* ``torch.autograd.gradcheck`` (float64 only): atol 1e-5, rtol 1e-3, as ``torch.allclose``.

The anchors' arithmetic is done here in float64 (torch compares float32 in float32).

The errors. Every result starts CORRECT: the oracle's exact value correctly rounded to the
case dtype (:func:`harness.numerics.dtypes.round_to`). An error of size ``delta`` is a
direction ``d``, and the result judged is ``round_to(correct + delta * d, dtype)``: what
an implementation returns is in its dtype, so an error below half an ULP does not exist.
The kinds (``d``, all computed by the float64 oracle, channels-first):

* ``one-largest`` / ``one-median``: one element scaled by ``1 + delta``: the element with
  the largest ``|exact|``; the one with the median ``|exact|`` among the nonzero ones;
* ``all``: every element scaled by ``1 + delta``;
* ``pad-shift``: the shifted pad row made continuous as a mix:
  ``correct + delta * (shifted - correct)``, ``shifted`` being the grad computed with the
  first spatial axis' pads moved by one, ``(before - 1, after + 1)`` (same output size;
  a pad of -1 crops, as in the case format);
* ``dropped-tap``: ``correct + delta * (dropped - correct)``, ``dropped`` the grad with the
  last kernel tap (bottom right) left out of the sum: ``w`` zero there for ``y`` and
  ``dx``, ``dw`` zero there for ``dw``;
* ``accumulation``: ``correct + delta * (storage - correct)``, ``storage`` the grad summed
  one product at a time in the case dtype itself, each product and each partial sum
  rounded to it (for ``y`` the products in order of input channel then tap, for ``dx`` of
  output channel then tap, for ``dw`` of batch then output position). For float16 and
  bfloat16 ``delta = 1`` is a real bug (convgrad's model accumulates them in float32);
  for float32 and float64 it is what convgrad's model allows, so ``delta = 1`` must pass
  and the smallest caught ``delta`` says how far past a dtype's own accumulation error an
  error must go before it is caught.

For each case, grad, kind and checker, the smallest caught ``delta`` is found by
bisection in log scale to 2 % in ``[1e-18, 1e12]`` (``<=1e-18``: caught at once; ``inf``:
never). Tables per dtype give, per kind, the median over the case set (cases and grads)
of each checker's smallest caught ``delta``, and of each anchor's ratio to convgrad's
(how many times larger an error the anchor needs; ``med/min`` over the instances); then
the summary (Markdown, for the issue note): per dtype and grad, the median over cases and
kinds of each anchor's ratio to the hard bound's smallest caught delta and to the
statistical line's (> 1: convgrad catches smaller errors), over all cases and over the
long sums only.

    python benchmarks/detection.py [--detail] [--dtype float32]
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from harness.case import ops
from harness.case.loader import load_cases
from harness.case.model import Case
from harness.case.values import materialize
from harness.numerics.compare import UNIT_ROUNDOFF
from harness.numerics.dtypes import ACCUMULATOR, round_to
from harness.verdict.expected import Expected, expected

CASES = str(Path(__file__).with_name("detection_cases.yaml"))
EXAMPLE = "detection/example/{dtype}-SAME-s1"     # the 1x3x8x8 / 4x3x3x3
LONG = "detection/long-sum"                        # 2304 products an element (y)
DTYPES = ("float64", "float32", "float16", "bfloat16")
KINDS = ("one-largest", "one-median", "all", "pad-shift", "dropped-tap", "accumulation")
LOW, HIGH = 1e-18, 1e12


@dataclass(frozen=True)
class Anchor:
    """A framework's published closeness criterion: ``|a - e| <= atol + rtol * |ref|``."""

    name: str
    tolerances: dict          # dtype -> (rtol, atol); a dtype not there: not applicable
    relative_to: str = "expected"   # whose magnitude rtol scales: "expected" or "actual"

    def passes(self, actual: np.ndarray, expected_: np.ndarray, dtype: str) -> bool:
        rtol, atol = self.tolerances[dtype]
        ref = expected_ if self.relative_to == "expected" else actual
        with np.errstate(invalid="ignore", over="ignore"):
            close = np.abs(actual - expected_) <= atol + rtol * np.abs(ref)
        # as np.isclose and torch.isclose: a non-finite value is close only to itself
        finite = np.isfinite(actual) & np.isfinite(expected_)
        return bool(np.all(np.where(finite, close, actual == expected_)))


ANCHORS = (
    Anchor("assert_close", {"float64": (1e-7, 1e-7), "float32": (1.3e-6, 1e-5),
                            "float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5)}),
    Anchor("tf_by_type", {"float64": (1e-6, 1e-6), "float32": (1e-6, 1e-6),
                          "float16": (1e-3, 1e-3), "bfloat16": (1e-2, 1e-2)},
           relative_to="actual"),
    Anchor("jax_grad_tol", {"float64": (1e-5, 1e-5), "float32": (2e-3, 2e-3),
                            "float16": (1e-2, 1e-2), "bfloat16": (1e-1, 1e-1)}),
    Anchor("gradcheck", {"float64": (1e-3, 1e-5)}),
)
OURS = ("convgrad", "statistical")     # the hard bound; the statistical line
CHECKERS = OURS + tuple(a.name for a in ANCHORS)


@dataclass
class Judged:
    """One grad of one case, as every checker sees it (the case's layout, float64)."""

    case: Case
    grad: str
    expected: Expected
    correct: np.ndarray                 # the exact value correctly rounded to the dtype
    directions: dict                    # kind -> d (the error is delta * d)

    def actual(self, kind: str, delta: float) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return round_to(self.correct + delta * self.directions[kind], self.case.dtype)

    def catches(self, checker: str, kind: str, delta: float) -> bool:
        actual = self.actual(kind, delta)
        if checker in OURS:
            c = self.expected.compare(actual)
            return not c.passed or (checker == "statistical" and bool(c.improbable))
        anchor = next(a for a in ANCHORS if a.name == checker)
        return not anchor.passes(actual, self.correct, self.case.dtype)


# ------------------------------------------------------------------ the errors

def _storage_sum(case: Case, grad: str, t: dict) -> np.ndarray:
    """``grad`` summed one product at a time in the case dtype (channels-first): each
    product and each partial sum rounded to it. One oracle call per step, with all but one
    slice of one operand zeroed, so that every element receives at most one product."""
    dtype = case.dtype
    if grad == "y":      # y[n, o, p] += x[n, c, s*p + k] * w[o, c, k], step (c, k)
        name, steps = "w", [(slice(None),) + i for i in np.ndindex(t["w"].shape[1:])]
    elif grad == "dx":   # dx[n, c, i] += dy[n, o, p] * w[o, c, k], step (o, k)
        shape = t["w"].shape
        name, steps = "w", [(i[0], slice(None)) + i[1:]
                            for i in np.ndindex((shape[0],) + shape[2:])]
    else:                # dw[o, c, k] += x[n, c, s*p + k] * dy[n, o, p], step (n, p)
        shape = t["dy"].shape
        name, steps = "dy", [(i[0], slice(None)) + i[1:]
                             for i in np.ndindex((shape[0],) + shape[2:])]
    total = None
    for step in steps:
        masked = np.zeros_like(t[name])
        masked[step] = t[name][step]
        args = dict(t, **{name: masked})
        product = ops.evaluate(case, grad, args["x"], args["w"], args["dy"])
        total = (round_to(product, dtype) if total is None
                 else round_to(total + round_to(product, dtype), dtype))
    return total


def _directions(case: Case, grad: str, t: dict, exact: np.ndarray,
                correct: np.ndarray, kinds=KINDS) -> dict:
    """Each kind's ``d``, channels-first."""
    out = {}
    magnitude = np.abs(exact).reshape(-1)
    if "one-largest" in kinds:
        d = np.zeros(correct.size)
        at = int(np.argmax(magnitude))
        d[at] = correct.reshape(-1)[at]
        out["one-largest"] = d.reshape(correct.shape)
    if "one-median" in kinds:
        d = np.zeros(correct.size)
        nonzero = np.flatnonzero(correct.reshape(-1) != 0)
        at = int(nonzero[np.argsort(magnitude[nonzero])[len(nonzero) // 2]])
        d[at] = correct.reshape(-1)[at]
        out["one-median"] = d.reshape(correct.shape)
    if "all" in kinds:
        out["all"] = correct.copy()
    if "pad-shift" in kinds:
        pads = [list(p) for p in case.pads]
        pads[0] = [pads[0][0] - 1, pads[0][1] + 1]
        shifted = ops.evaluate(case, grad, t["x"], t["w"], t["dy"], pads=pads)
        out["pad-shift"] = shifted - correct
    if "dropped-tap" in kinds:
        last = (..., *(k - 1 for k in t["w"].shape[2:]))
        if grad == "dw":
            dropped = exact.copy()
            dropped[last] = 0.0
        else:
            w = t["w"].copy()
            w[last] = 0.0
            dropped = ops.evaluate(case, grad, t["x"], w, t["dy"])
        out["dropped-tap"] = dropped - correct
    if "accumulation" in kinds:
        out["accumulation"] = _storage_sum(case, grad, t) - correct
    return out


def judged(case: Case, grads=None, kinds=KINDS) -> dict[str, Judged]:
    """What the checkers judge for each grad of ``case``."""
    inputs = materialize(case)
    exp = expected(case, inputs)
    t = {n: ops.to_canonical(case, n, inputs.get(n)) for n in ("x", "w", "dy")}
    out = {}
    for grad in grads or case.grads:
        exact = ops.to_canonical(case, grad, exp[grad].values)
        correct = round_to(exact, case.dtype)
        d = _directions(case, grad, t, exact, correct, kinds)
        out[grad] = Judged(case, grad, exp[grad], ops.from_canonical(case, grad, correct),
                           {k: ops.from_canonical(case, grad, v) for k, v in d.items()})
    return out


# ------------------------------------------------------------------ the search

def smallest(catches: Callable[[float], bool], low: float = LOW, high: float = HIGH) -> float:
    """The smallest delta in [low, high] that ``catches`` (monotone), to 2 % in log scale;
    ``low`` if ``low`` is caught already, inf if ``high`` is not. A checker that fails the
    correct result (delta 0) is broken here, not sensitive: that raises."""
    if catches(0.0):
        raise RuntimeError("a checker fails the correctly rounded result")
    if not catches(high):
        return math.inf
    if catches(low):
        return low
    while high / low > 1.02:
        mid = math.sqrt(low * high)
        low, high = (low, mid) if catches(mid) else (mid, high)
    return high


def checkers_for(dtype: str) -> tuple[str, ...]:
    return OURS + tuple(a.name for a in ANCHORS if dtype in a.tolerances)


def thresholds(j: Judged, kinds=KINDS, checkers=None) -> dict[str, dict[str, float]]:
    """kind -> checker -> the smallest delta it catches."""
    checkers = checkers or checkers_for(j.case.dtype)
    return {kind: {c: smallest(lambda d, c=c, kind=kind: j.catches(c, kind, d))
                   for c in checkers} for kind in kinds}


def ratio(anchor: float, convgrad: float) -> Optional[float]:
    """How many times larger an error the anchor needs (None where neither catches)."""
    if math.isinf(anchor) and math.isinf(convgrad):
        return None
    if math.isinf(convgrad):
        return 0.0
    return anchor / convgrad


# ------------------------------------------------------------------ the figures

def bound_figures(case: Case) -> list[tuple]:
    """Per grad of ``case``: max n, n * u_acc, and the median and largest bound / M over
    the elements that sum the most products (M: the sum over absolute values, which for
    y is sum |x| |w|)."""
    exp = expected(case, materialize(case))
    rows = []
    for grad in case.grads:
        e = exp[grad]
        n = np.asarray(e.terms)
        full = n == n.max()
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = (e.bound / e.magnitude)[full & (e.magnitude > 0)]
        u = UNIT_ROUNDOFF[ACCUMULATOR[case.dtype]]
        rows.append((grad, int(n.max()), n.max() * u, float(np.median(rel)), float(rel.max())))
    return rows


def _fmt(v: Optional[float]) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if math.isinf(v):
        return "inf"
    if v <= LOW:
        return f"<={LOW:.0e}"
    return f"{v:.2g}"


def _median(values: list) -> Optional[float]:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def table(dtype: str, results: list[tuple[str, str, dict, dict]]) -> list[str]:
    """One dtype's table: per kind, medians over (case, grad) of the smallest caught delta
    (the statistical line's: flagged) and of each anchor's ratio to convgrad's hard bound
    (med/min); then how many of the instances each checker flags at ``accumulation`` with
    ``delta = 1``."""
    anchors = [c for c in checkers_for(dtype) if c not in OURS]
    head = (f"{'kind':13} {'convgrad':>9} {'statistical':>11}"
            + "".join(f" | {a:>12} {'ratio med/min':>17}" for a in anchors))
    lines = [f"{dtype}: {len({r[0] for r in results})} cases x {len({r[1] for r in results})}"
             f" grads, medians", head, "-" * len(head)]
    for kind in KINDS:
        found = [r[2][kind] for r in results]
        line = (f"{kind:13} {_fmt(_median([f['convgrad'] for f in found])):>9} "
                f"{_fmt(_median([f['statistical'] for f in found])):>11}")
        for a in anchors:
            ratios = [ratio(f[a], f["convgrad"]) for f in found]
            ratios = [r for r in ratios if r is not None]
            rr = (f"{_fmt(_median(ratios))}/{_fmt(min(ratios))}" if ratios else "-")
            line += f" | {_fmt(_median([f[a] for f in found])):>12} {rr:>17}"
        lines.append(line)
    meaning = ("a correct result: an error convgrad's model allows, flagging it is a false "
               "alarm" if ACCUMULATOR[dtype] == dtype else
               f"a real bug: {dtype} accumulation where {ACCUMULATOR[dtype]} is expected")
    lines.append(f"accumulation at delta = 1 ({meaning}), flagged in: " + ", ".join(
        f"{c} {sum(r[3][c] for r in results)}/{len(results)}" for c in checkers_for(dtype)))
    return lines


def summary(dtype: str, results: list[tuple[str, str, dict, dict]], cases: str = "all"
            ) -> list[str]:
    """One dtype's rows of the summary (Markdown): per grad and over all, the medians over
    cases and kinds of the hard bound's and the statistical line's smallest caught delta,
    and of each anchor's ratio to each (how many times larger an error the anchor needs:
    > 1, convgrad catches smaller errors). ``cases``: ``all``, or ``long`` (the long sums
    only, where the statistical line lies below the hard bound)."""
    applies = checkers_for(dtype)
    if cases == "long":
        results = [r for r in results if r[0].startswith(LONG)]
    rows = []
    for grad in ("y", "dx", "dw", "all"):
        found = [r[2][kind] for r in results if grad in (r[1], "all") for kind in KINDS]
        if not found:
            continue
        cells = [dtype, cases, grad, _fmt(_median([f["convgrad"] for f in found])),
                 _fmt(_median([f["statistical"] for f in found]))]
        for a in (a.name for a in ANCHORS):
            for ours in OURS:       # an anchor without a tolerance for the dtype: "-"
                ratios = [r for r in (ratio(f[a], f[ours]) for f in found) if r is not None] \
                    if a in applies else []
                cells.append(_fmt(_median(ratios)))
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def summary_head(anchors=tuple(a.name for a in ANCHORS)) -> list[str]:
    cells = ["dtype", "cases", "grad", "hard bound: delta", "statistical: delta"]
    cells += [f"{a} / {ours}" for a in anchors for ours in ("hard", "stat.")]
    return ["| " + " | ".join(cells) + " |", "|" + "---|" * len(cells)]


def measure(cases: list[Case]) -> dict[str, list[tuple[str, str, dict, dict]]]:
    """dtype -> [(case id, grad, thresholds, checker -> flags accumulation at delta 1)]."""
    out: dict[str, list] = {d: [] for d in DTYPES}
    for case in cases:
        for grad, j in judged(case).items():
            at_one = {c: j.catches(c, "accumulation", 1.0) for c in checkers_for(case.dtype)}
            out[case.dtype].append((case.id, grad, thresholds(j), at_one))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detail", action="store_true",
                        help="also print every case and grad, not only the medians")
    parser.add_argument("--dtype", action="append", choices=DTYPES,
                        help="only these dtypes (default: all)")
    args = parser.parse_args(argv)
    dtypes = tuple(d for d in DTYPES if d in (args.dtype or DTYPES))
    cases = [c for c in load_cases([CASES]) if c.dtype in dtypes]
    results = measure(cases)
    print("Smallest caught delta: the size of the injected error (a relative error for "
          "one-*/all, the mix weight toward the wrong result for the others); ratio: the "
          "anchor's over convgrad's, how many times larger an error the anchor needs.\n")
    for dtype in dtypes:
        print("\n".join(table(dtype, results[dtype])))
        if args.detail:
            for cid, grad, found, _ in results[dtype]:
                for kind in KINDS:
                    print(f"    {cid:36} {grad:3} {kind:13} " + " ".join(
                        f"{c}={_fmt(v)}" for c, v in found[kind].items()))
        print()
    print("Summary: medians over cases and kinds; '<anchor> / hard': the anchor's smallest "
          "caught delta over the hard bound's, '/ stat.': over the statistical line's "
          "(> 1: convgrad catches smaller errors; the statistical line marks, it fails only "
          "with --strict-statistical)\n")
    print("\n".join(summary_head()))
    for dtype in dtypes:
        print("\n".join(summary(dtype, results[dtype])))
    for dtype in dtypes:
        print("\n".join(summary(dtype, results[dtype], cases="long")))
    print()
    print("The issue's example (1x3x8x8 input, 4x3x3x3 kernel, SAME, stride 1): the bound "
          "relative to M (M = sum |x||w| for y, sum |dy||w| for dx, sum |x||dy| for dw), "
          "at the elements that sum the most products")
    print(f"{'dtype':9} {'grad':4} {'n':>4} {'n*u_acc':>10} {'bound/M median':>15} "
          f"{'bound/M max':>12}")
    for dtype in dtypes:
        case = next(c for c in cases if c.id == EXAMPLE.format(dtype=dtype))
        for grad, n, nu, med, top in bound_figures(case):
            print(f"{dtype:9} {grad:4} {n:4d} {nu:10.3g} {med:15.3g} {top:12.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
