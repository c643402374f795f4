"""The case dtypes: NumPy types, unit roundoff, and rounding of float64 values to them."""
from __future__ import annotations

import numpy as np

NAMES = ("float64", "float32", "float16", "bfloat16")

# Unit roundoff u = 2**-p for a p-bit significand (round to nearest): the
# largest relative error of one correctly rounded operation.
UNIT_ROUNDOFF = {
    "float64": 2.0 ** -53,
    "float32": 2.0 ** -24,
    "float16": 2.0 ** -11,
    "bfloat16": 2.0 ** -8,
}


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a case dtype name (bfloat16 through ml_dtypes)."""
    if name == "bfloat16":
        import ml_dtypes  # only cases in bfloat16 need it
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def round_to(values: np.ndarray, name: str) -> np.ndarray:
    """``values`` rounded to dtype ``name`` (round to nearest even), returned as float64."""
    return np.asarray(values, dtype=np.float64).astype(numpy_dtype(name)).astype(np.float64)


def largest_finite(name: str) -> float:
    if name == "bfloat16":
        import ml_dtypes
        return float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)
    return float(np.finfo(name).max)
