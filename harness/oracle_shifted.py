"""The oracle's fast path for stride-1 convolutions: GEMMs on the flattened padded grid.

With stride 1 an output position and the input position one tap reads differ by
a constant offset once the padded input is laid out channels-last and
flattened, one row per padded position: tap ``k`` (dilation ``d``) reads row
``q + off(k)`` for output row ``q``, ``off(k) = sum_i d_i * k_i * pitch_i`` with
``pitch_i`` the row count of one step along spatial axis ``i``. So, over all
rows ``q`` of the flattened padded grid (``N * prod(padded)`` rows),

* ``y[q]   = sum_k xf[q + off(k)] @ W_k``             (``W_k = w[:, :, k]^T``, ``(C, O)``)
* ``dxf[p] = sum_k dyf[p - off(k)] @ W_k^T``          (the same sum with the kernel flipped)
* ``dW_k   = sum_q xf[q + off(k)]^T @ dyf[q]``

where ``xf`` is the padded input, ``dyf`` is ``dy`` placed on the same grid
(zero on rows that are not an output position) and ``dxf`` is the padded
input's gradient.

``y`` and ``dx`` are one GEMM per block of rows, ``(rows, taps * C) @ (taps * C, O)``;
the block's ``(rows, taps * C)`` operand is copied from the grid in runs of
``k_last * C`` contiguous elements (a whole kernel row at once when the last axis
is not dilated), far cheaper than im2col from an ``(N, C, *S)`` array. ``dw`` needs
no copy at all: each tap's operand is a contiguous slice of the grid.

Rows that are not output positions are computed for nothing (about
``prod(padded) / prod(out)`` of the work, 7 % on a 56 x 56 3x3 SAME layer) and
dropped. They read rows of the next image or of a zero tail, which only
matters through ``0 * inf``: with a non-finite ``w`` (for ``dx``) or ``x`` (for
``dw``) the caller must use another path (:func:`applies`).

Peak memory: two arrays on the padded grid (the input and the result, or
``dy`` and the result) and one block, about twice the largest operand. Tested
against :func:`harness.oracle.conv_taps` and friends (tests/test_oracle.py).
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from harness import oracle

BLOCK = 1 << 19          # elements of one block of gathered rows, (rows, taps * C)
MIN_CHANNELS = 16        # fewer input or output channels are left to im2col


def applies(x_shape: Sequence[int], filter_shape: Sequence[int], *, strides: Sequence[int],
            pads, dilations: Sequence[int], groups: int,
            operand: np.ndarray | None = None) -> bool:
    """Whether this path computes this geometry, and pays: stride 1, one group, at least
    ``MIN_CHANNELS`` input and output channels, a non-empty output.

    ``operand`` is the array that a dropped row's ``0 * value`` could reach (``w`` for
    ``dx``, ``x`` for ``dw``, none for ``y``); it must be finite.
    """
    x_shape, filter_shape = tuple(int(v) for v in x_shape), tuple(int(v) for v in filter_shape)
    if groups != 1 or any(int(s) != 1 for s in strides):
        return False
    if min(x_shape[1], filter_shape[0]) < MIN_CHANNELS:
        return False
    y_shape = oracle.conv_forward_output_shape(x_shape, filter_shape, strides=strides,
                                               pads=pads, dilations=dilations, groups=groups)
    if 0 in x_shape or 0 in filter_shape or 0 in y_shape:
        return False
    return operand is None or math.isfinite(float(np.sum(operand)))


class _Grid:
    """The flattened padded grid: rows per image, tap offsets, output positions."""

    def __init__(self, input_shape, kernel, pads, dilations):
        self.n, self.c = int(input_shape[0]), int(input_shape[1])
        self.pads = [tuple(int(v) for v in p) for p in pads]
        self.padded = [s + b + a for s, (b, a) in zip(input_shape[2:], self.pads)]
        self.out = [p - (k - 1) * d for p, k, d in zip(self.padded, kernel, dilations)]
        pitch = [math.prod(self.padded[i + 1:]) for i in range(len(self.padded))]
        self.offsets = [sum(k * d * p for k, d, p in zip(tap, dilations, pitch))
                        for tap in itertools.product(*(range(k) for k in kernel))]
        self.rows = self.n * math.prod(self.padded)
        self.total = self.rows + max(self.offsets)          # a zero tail for the last reads

    def valid(self) -> tuple[slice, ...]:
        """Index of the output positions in ``(N, *padded, channels)``."""
        return (slice(None), *(slice(0, m) for m in self.out), slice(None))

    def padded_input(self, x: np.ndarray) -> np.ndarray:
        """``x`` zero-padded (or cropped), channels-last, as ``(total, C)`` rows."""
        xf = np.zeros((self.total, self.c))
        in_x, in_xp = oracle._overlap(x.shape, self.pads)
        grid = xf[:self.rows].reshape(self.n, *self.padded, self.c)
        grid[(in_xp[0], *in_xp[2:], slice(None))] = np.moveaxis(x[in_x], 1, -1)
        return xf

    def on_grid(self, dy: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``dy`` (N, O, *out) on the grid's rows, zero elsewhere: ``(rows, O)``, in ``out``
        (zeros) when given."""
        dyf = np.zeros((self.rows, dy.shape[1])) if out is None else out
        dyf.reshape(self.n, *self.padded, dy.shape[1])[self.valid()] = np.moveaxis(dy, 1, -1)
        return dyf


def _tap_matrices(w: np.ndarray) -> np.ndarray:
    """``w`` (O, C, *k) as ``(taps, C, O)``, taps in the grid's offset order."""
    o, c = w.shape[:2]
    return np.ascontiguousarray(np.moveaxis(w.reshape(o, c, -1), 2, 0).swapaxes(1, 2))


def _gathered(src: np.ndarray, grid: _Grid, kernel, dilations):
    """Blocks ``(lo, hi, cols)``: ``cols[q - lo] = concat_k src[q + off(k)]``, ``(hi - lo,
    taps * C)``, for the grid rows ``lo <= q < hi``; ``src`` is ``(rows, C)``, C-ordered and
    long enough for every read. One buffer is reused: each block is only valid until the next.
    """
    c = src.shape[1]
    k_last, d_last = int(kernel[-1]), int(dilations[-1])
    runs = grid.offsets[::k_last]                       # the first tap of each kernel row
    width = len(grid.offsets) * c
    step = max(64, BLOCK // width)
    cols = np.empty((min(step, grid.rows), width))
    row, channel = src.strides
    for lo in range(0, grid.rows, step):
        hi = min(lo + step, grid.rows)
        block = cols[:hi - lo].reshape(hi - lo, len(runs), k_last, c)
        for r, off in enumerate(runs):
            np.copyto(block[:, r], as_strided(src[lo + off:], (hi - lo, k_last, c),
                                              (row, d_last * row, channel), writeable=False))
        yield lo, hi, cols[:hi - lo]


def _gathered_gemm(src: np.ndarray, mats: np.ndarray, grid: _Grid, kernel,
                   dilations) -> np.ndarray:
    """``out[q] = sum_k src[q + off(k)] @ mats[k]`` for every grid row ``q``: one GEMM per
    block of :func:`_gathered` rows."""
    weights = mats.reshape(-1, mats.shape[2])           # (taps * C, O), rows in tap order
    out = np.empty((grid.rows, weights.shape[1]))
    for lo, hi, cols in _gathered(src, grid, kernel, dilations):
        np.matmul(cols, weights, out=out[lo:hi])
    return out


def conv(x, w, *, pads, dilations) -> np.ndarray:
    """:func:`harness.oracle.conv`, stride 1, groups 1: ``y[q] = sum_k xf[q + off(k)] @ W_k``."""
    grid = _Grid(x.shape, w.shape[2:], pads, dilations)
    yf = _gathered_gemm(grid.padded_input(x), _tap_matrices(w), grid, w.shape[2:], dilations)
    y = yf.reshape(grid.n, *grid.padded, w.shape[0])[grid.valid()]
    return np.moveaxis(y, -1, 1)


def conv_dx(dy, w, *, input_shape, pads, dilations) -> np.ndarray:
    """:func:`harness.oracle.conv_dx`, stride 1, groups 1: ``dxf[p] = sum_k dyf[p - off(k)] @ W_k^T``.

    With ``dyf`` behind ``max(off)`` zero rows, ``dyf[p - off(k)]`` is row ``p + max(off) -
    off(k)`` and ``max(off) - off(k)`` is the offset of the flipped kernel's tap ``k``: the
    same gathered GEMM as ``y``, on ``dy`` with the kernel flipped and transposed.
    """
    kernel = w.shape[2:]
    grid = _Grid(input_shape, kernel, pads, dilations)
    lead = grid.total - grid.rows                        # max(off) zero rows before dyf
    dye = np.zeros((lead + grid.rows, w.shape[0]))
    grid.on_grid(dy, out=dye[lead:lead + grid.rows])
    flipped = np.ascontiguousarray(_tap_matrices(w)[::-1].swapaxes(1, 2))   # (taps, O, C)
    dxf = _gathered_gemm(dye, flipped, grid, kernel, dilations)
    dxpad = np.moveaxis(dxf.reshape(grid.n, *grid.padded, grid.c), -1, 1)
    if all(b >= 0 and a >= 0 for b, a in grid.pads):       # a view: no copy of dx
        return dxpad[(slice(None), slice(None),
                      *(slice(b, b + s) for (b, _), s in zip(grid.pads, input_shape[2:])))]
    return oracle._unpad(dxpad, grid.pads, tuple(input_shape))


def conv_dw(x, dy, *, filter_shape, pads, dilations) -> np.ndarray:
    """:func:`harness.oracle.conv_dw`, stride 1, groups 1: ``dW_k = sum_q xf[q + off(k)]^T @ dyf[q]``,
    one GEMM per block of :func:`_gathered` rows, ``cols^T @ dyf``."""
    o, c, *kernel = filter_shape
    grid = _Grid(x.shape, kernel, pads, dilations)
    xf, dyf = grid.padded_input(x), grid.on_grid(dy)
    acc, part = np.zeros((len(grid.offsets) * c, o)), np.empty((len(grid.offsets) * c, o))
    for lo, hi, cols in _gathered(xf, grid, kernel, dilations):
        np.matmul(cols.T, dyf[lo:hi], out=part)
        acc += part
    mats = acc.reshape(len(grid.offsets), c, o)
    return np.ascontiguousarray(np.moveaxis(mats, 0, 2).swapaxes(0, 1).reshape(filter_shape))
