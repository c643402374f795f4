"""Arrays as exact Python source, for the standalone scripts.

A small array is written as a list of ``repr`` floats (``repr`` of a float64
reads back bit for bit); a large one as base64 of its zlib-compressed
little-endian bytes, in float32 when every value is exactly a float32 (the
case's inputs are already rounded to float32, float16 or bfloat16, all exact
in float32) and in float64 otherwise. Either way the script gets the very
float64 values convgrad computed with, and needs nothing but NumPy to read
them (:data:`DECODER`).
"""
from __future__ import annotations

import base64
import math
import textwrap
import zlib

import numpy as np

INLINE_LIMIT = 256          # elements written out as numbers
WIDTH = 96

DECODER = '''\
def unpack(text, dtype, shape):
    """Values stored as base64 of zlib-compressed little-endian bytes, as float64."""
    raw = zlib.decompress(base64.b64decode("".join(text.split())))
    return np.frombuffer(raw, dtype=dtype).astype(np.float64).reshape(shape)
'''


def _number(v: float) -> str:
    if math.isnan(v):
        return 'float("nan")'
    if math.isinf(v):
        return 'float("inf")' if v > 0 else 'float("-inf")'
    if v == int(v) and abs(v) < 2 ** 53:
        return "-0.0" if v == 0 and math.copysign(1, v) < 0 else f"{int(v)}.0"
    return repr(float(v))


def needs_decoder(arrays) -> bool:
    return any(np.size(a) > INLINE_LIMIT for a in arrays)


def exact_in_float32(a: np.ndarray) -> bool:
    with np.errstate(over="ignore", invalid="ignore"):
        back = a.astype(np.float32).astype(np.float64)
    return bool(np.array_equal(back, a, equal_nan=True))


def literal(a: np.ndarray, indent: str = "") -> str:
    """Python source of an expression that evaluates to ``a`` (float64, same shape)."""
    a = np.asarray(a, dtype=np.float64)
    shape = tuple(int(n) for n in a.shape)
    if a.size <= INLINE_LIMIT:
        body = ", ".join(_number(v) for v in a.ravel().tolist())
        lines = textwrap.wrap(body, WIDTH - len(indent) - 4, break_on_hyphens=False) or [""]
        inner = ("\n" + indent + "    ").join(lines)
        return f"np.array([\n{indent}    {inner}], dtype=np.float64).reshape({shape!r})"
    dtype = "<f4" if exact_in_float32(a) else "<f8"
    packed = base64.b64encode(zlib.compress(a.astype(dtype).tobytes(), 9)).decode()
    chunks = textwrap.wrap(packed, WIDTH - len(indent) - 6)
    text = ("\n" + indent + "    ").join(f'"{c}"' for c in chunks)
    return f"unpack(\n{indent}    {text},\n{indent}    \"{dtype}\", {shape!r})"

