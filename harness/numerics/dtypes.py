"""The case dtypes: NumPy types, unit roundoff, and rounding of float64 values to them."""
from __future__ import annotations

import math

import ml_dtypes
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


# Half the spacing of the subnormals, 2**(emin - p): the largest absolute error of
# rounding a result that lands in the subnormal range, where the relative error u no
# longer holds. (For float64 that half is not representable, so the whole spacing.)
UNDERFLOW = {
    "float64": 2.0 ** -1074,
    "float32": 2.0 ** -150,
    "float16": 2.0 ** -25,
    "bfloat16": 2.0 ** -134,
}

# The dtype the frameworks accumulate sums of products in, by default, per case dtype:
# the half types in float32 (their products are exact in float32), the others in their own.
ACCUMULATOR = {
    "float64": "float64",
    "float32": "float32",
    "float16": "float32",
    "bfloat16": "float32",
}


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a case dtype name (bfloat16 through ml_dtypes)."""
    if name == "bfloat16":
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def round_to(values: np.ndarray, name: str) -> np.ndarray:
    """``values`` rounded to dtype ``name`` (round to nearest even), returned as float64.

    Magnitudes past the dtype's range become infinities, as IEEE rounding says.
    """
    with np.errstate(over="ignore"):
        return np.asarray(values, dtype=np.float64).astype(numpy_dtype(name)).astype(np.float64)


def largest_finite(name: str) -> float:
    if name == "bfloat16":
        return float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)
    return float(np.finfo(name).max)


def overflow_threshold(name: str) -> float:
    """The smallest magnitude that rounds to infinity in dtype ``name``.

    That is the largest finite value plus half its ULP: round to nearest sends
    everything from there on to infinity (the halfway value too, since the largest
    finite value has an odd significand). ``inf`` for float64, the oracle's own type.
    """
    if name == "float64":
        return float("inf")
    top = largest_finite(name)
    _, exponent = math.frexp(top)                     # top = m * 2**exponent, 0.5 <= m < 1
    return top + math.ldexp(UNIT_ROUNDOFF[name], exponent - 1)
