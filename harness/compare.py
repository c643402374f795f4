"""Judge computed values against the oracle with a bound from error analysis.

For an element that is a sum of ``n`` products, a correct implementation with
unit roundoff ``u`` stays within::

    bound = n * u * M  +  u * |exact|  +  n * u64 * M

of the exact value, where ``M`` is the same sum over absolute values (the
oracle run on ``|x|, |w|, |dy|``), ``u * |exact|`` the final rounding to the
output dtype, and the last term the float64 oracle's own error (it matters for
float64 cases only). ``n`` is counted per element (the oracle run on ones).
The verdict is ``max |err| / bound``: at most 1 passes. Nothing is masked:
NaN must meet NaN, an infinity the same infinity. Comparison never raises.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from harness.dtypes import UNIT_ROUNDOFF

U64 = UNIT_ROUNDOFF["float64"]


def bound(exact: np.ndarray, magnitude: np.ndarray, terms: np.ndarray, dtype: str) -> np.ndarray:
    """Per-element error bound (see the module docstring)."""
    u = UNIT_ROUNDOFF[dtype]
    with np.errstate(invalid="ignore", over="ignore"):
        return terms * u * magnitude + u * np.abs(exact) + terms * U64 * magnitude


@dataclass
class Comparison:
    """What one comparison found; ``passed`` is the whole verdict."""

    passed: bool
    message: str
    total: int = 0
    mismatched: int = 0
    error_ratio: Optional[float] = None
    max_abs_error: Optional[float] = None
    max_abs_index: Optional[list[int]] = None
    max_rel_error: Optional[float] = None
    max_rel_index: Optional[list[int]] = None
    worst_index: Optional[list[int]] = None
    worst_expected: Optional[float] = None
    worst_actual: Optional[float] = None
    worst_bound: Optional[float] = None
    ratio: Optional[np.ndarray] = field(default=None, repr=False)  # |err| / bound, per element

    @property
    def mismatch_percent(self) -> float:
        return 100.0 * self.mismatched / self.total if self.total else 0.0

    def stats(self) -> dict:
        out = asdict(self)
        for key in ("ratio", "passed", "message"):  # the verdict carries status and message
            out.pop(key)
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


def compare(actual: np.ndarray, exact: np.ndarray, limit: np.ndarray) -> Comparison:
    """Compare ``actual`` with ``exact`` element-wise against the bound ``limit``."""
    actual = np.asarray(actual).astype(np.float64)
    if actual.shape != exact.shape:
        empty = " (an empty tensor)" if exact.size == 0 else ""
        return Comparison(False, f"shape {list(actual.shape)} differs from the expected "
                                 f"{list(exact.shape)}{empty}", total=int(exact.size))
    if exact.size == 0:
        return Comparison(True, f"empty tensor, shape {list(exact.shape)}, as expected",
                          total=0, error_ratio=0.0)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        err = np.abs(actual - exact)
        err = np.where(np.isnan(actual) & np.isnan(exact), 0.0, err)
        err = np.where(np.isinf(exact) & (actual == exact), 0.0, err)
        bad_nonfinite = _nonfinite_mismatch(actual, exact)
        err = np.where(bad_nonfinite, np.inf, err)
        ratio = np.where(err == 0, 0.0, err / limit)
        ratio = np.where(np.isnan(ratio), np.inf, ratio)
        rel = np.where(err == 0, 0.0, err / np.abs(exact))
        rel = np.where(np.isnan(rel), np.inf, rel)
    mismatched = int(np.count_nonzero(ratio > 1.0))
    worst = int(np.argmax(ratio))
    abs_at, rel_at = int(np.argmax(err)), int(np.argmax(rel))
    result = Comparison(
        passed=mismatched == 0, message="", total=int(exact.size), mismatched=mismatched,
        error_ratio=float(ratio.flat[worst]), max_abs_error=float(err.flat[abs_at]),
        max_abs_index=_index(abs_at, exact.shape), max_rel_error=float(rel.flat[rel_at]),
        max_rel_index=_index(rel_at, exact.shape), worst_index=_index(worst, exact.shape),
        worst_expected=float(exact.flat[worst]), worst_actual=float(actual.flat[worst]),
        worst_bound=float(limit.flat[worst]), ratio=ratio)
    result.message = message(result)
    return result


def message(c: Comparison) -> str:
    """The mismatch message, in the spirit of ``torch.testing.assert_close``."""
    if c.passed:
        return (f"all {c.total} elements within bound (greatest |err| / bound = "
                f"{c.error_ratio:.3g})")
    return (f"Mismatched elements: {c.mismatched} / {c.total} ({c.mismatch_percent:.1f}%)\n"
            f"Greatest absolute difference: {c.max_abs_error:.6g} at index "
            f"{tuple(c.max_abs_index)}\n"
            f"Greatest relative difference: {c.max_rel_error:.6g} at index "
            f"{tuple(c.max_rel_index)}\n"
            f"Worst element (|err| / bound = {c.error_ratio:.3g}) at index "
            f"{tuple(c.worst_index)}: expected {c.worst_expected!r}, got {c.worst_actual!r}, "
            f"bound {c.worst_bound:.3g}")
