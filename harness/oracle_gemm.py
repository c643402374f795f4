"""The oracle's fast path: each convolution as GEMMs over im2col blocks, float64.

Same formulas as :mod:`harness.oracle` (see its docstrings), arranged for BLAS,
channels-first throughout. The input is padded once (``(N, C, *padded)``);
for a block of (batch items, rows of the first output dim) of about ``BLOCK``
elements, every tap's window slab ``xpad[items, :, s * p + d * k]`` is copied
into ``cols``, ``(C, taps, items, *out_block)``: one strided copy per tap whose
inner loop runs along the last output axis. Per group ``g`` (its ``Cg``
channels, ``K = Cg * taps`` rows of ``cols``, its ``Og`` filters ``W_g``,
``(Og, K)``):

* ``y[items, g, block] = W_g @ cols_g``                 ``(Og, K) @ (K, positions)``
* ``dw_g += dy_g @ cols_g^T``                           ``(Og, positions) @ (positions, K)``
* ``dx``: ``W_g^T @ dy_g`` gives every window's contribution ``(K, positions)``,
  added back onto the padded input tap by tap (col2im).

Peak memory: the padded input, the result, and one block. Tested against
:func:`harness.oracle.conv_taps` and friends on random geometries
(tests/test_oracle.py). Stride-1 convolutions with enough channels take
:mod:`harness.oracle_shifted` instead, which needs no window copies.
"""
from __future__ import annotations

import itertools
import math
from typing import Iterator, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from harness import oracle

BLOCK = 1 << 18                 # elements of one im2col block (2 MiB in float64)
MIN_REDUCTION = 16              # a shorter per-group reduction is left to the tap path


def worth_it(filter_shape: Sequence[int], groups: int) -> bool:
    """Whether the GEMM path pays: per-group reductions long enough for BLAS."""
    cg_k = int(filter_shape[1]) * math.prod(int(k) for k in filter_shape[2:])
    return groups <= 8 and cg_k >= MIN_REDUCTION and min(filter_shape) > 0


def _blocks(n: int, out: Sequence[int], k_elems: int) -> Iterator[tuple[slice, slice]]:
    """(batch items, rows of the first output dim) blocks of about BLOCK elements: several
    whole batch items where one is small (so the GEMMs stay large), else the rows of one."""
    per_row = math.prod(out[1:]) * max(k_elems, 1)
    per_item = per_row * out[0]
    if per_item <= BLOCK:
        step = max(1, BLOCK // max(per_item, 1))
        for lo in range(0, n, step):
            yield slice(lo, min(lo + step, n)), slice(None)
        return
    step = max(1, BLOCK // max(per_row, 1))
    for i in range(n):
        for lo in range(0, out[0], step):
            yield slice(i, i + 1), slice(lo, min(lo + step, out[0]))


def _geometry(input_shape, filter_shape, strides, pads, dilations, groups):
    y_shape = oracle.conv_forward_output_shape(input_shape, filter_shape, strides=strides,
                                               pads=pads, dilations=dilations, groups=groups)
    return [tuple(int(v) for v in p) for p in pads], y_shape


def _tap_slices(tap, strides, dilations, block, first: int) -> tuple[slice, ...]:
    """The padded input's positions ``s * p + d * k`` of one tap over a block of outputs
    (``block`` sizes, starting at row ``first`` of the first output dim)."""
    starts = [first] + [0] * (len(tap) - 1)
    return tuple(slice(d * k + s * lo, d * k + s * (lo + m - 1) + 1, s)
                 for k, s, d, m, lo in zip(tap, strides, dilations, block, starts))


class _Columns:
    """The im2col blocks of one convolution: ``cols`` ``(C, taps, items, *out_block)``."""

    def __init__(self, x, kernel, strides, dilations, pads, out):
        xpad = oracle._pad(x, pads)
        self.n, self.c, self.kernel, self.out = x.shape[0], x.shape[1], tuple(kernel), out
        # windows[n, c, k, p] = xpad[n, c, s * p + d * k], a view: (N, C, *kernel, *out)
        step = xpad.strides[2:]
        self.windows = as_strided(
            xpad, (*xpad.shape[:2], *kernel, *out),
            (*xpad.strides[:2], *(d * st for d, st in zip(dilations, step)),
             *(s * st for s, st in zip(strides, step))), writeable=False)

    def blocks(self):
        """``(items, rows, cols)`` per block; one buffer is reused across blocks."""
        r, taps = len(self.kernel), math.prod(self.kernel)
        order = (1, *range(2, 2 + r), 0, *range(2 + r, 2 + 2 * r))   # (C, *k, items, *out)
        buffer = None
        for items, rows in _blocks(self.n, self.out, taps * self.c):
            view = self.windows[(items, slice(None), *[slice(None)] * r, rows)]
            size = view.size
            if buffer is None or buffer.size < size:
                buffer = np.empty(size)
            shape = [view.shape[i] for i in order]
            np.copyto(buffer[:size].reshape(shape), view.transpose(order))
            yield items, rows, buffer[:size].reshape(self.c, taps, *shape[1 + r:])


def conv(x, w, *, strides, pads, dilations, groups=1) -> np.ndarray:
    """:func:`harness.oracle.conv` as GEMMs: ``y_g = W_g @ cols_g`` per block."""
    pads, y_shape = _geometry(x.shape, w.shape, strides, pads, dilations, groups)
    n, o, *out = y_shape
    if 0 in y_shape:
        return np.zeros(y_shape)
    og, cg = o // groups, w.shape[1]
    filters = w.reshape(groups, og, -1)                     # (G, Og, Cg * taps)
    y = np.empty(y_shape)
    for items, rows, cols in _Columns(x, w.shape[2:], strides, dilations, pads, out).blocks():
        for g in range(groups):
            cols_g = cols[g * cg:(g + 1) * cg].reshape(filters.shape[2], -1)
            part = (filters[g] @ cols_g).reshape(og, *cols.shape[2:])
            y[items, g * og:(g + 1) * og, rows] = np.swapaxes(part, 0, 1)
    return y


def conv_dw(x, dy, *, filter_shape, strides, pads, dilations, groups=1) -> np.ndarray:
    """:func:`harness.oracle.conv_dw` as GEMMs: ``dw_g = sum over blocks of dy_g @ cols_g^T``."""
    filter_shape = tuple(int(v) for v in filter_shape)
    pads, y_shape = _geometry(x.shape, filter_shape, strides, pads, dilations, groups)
    oracle._check_dy(dy, y_shape)
    n, o, *out = y_shape
    o, cg, *kernel = filter_shape
    if 0 in y_shape:
        return np.zeros(filter_shape)
    og = o // groups
    acc = np.zeros((groups, og, cg * math.prod(kernel)))
    for items, rows, cols in _Columns(x, kernel, strides, dilations, pads, out).blocks():
        for g in range(groups):
            cols_g = cols[g * cg:(g + 1) * cg].reshape(acc.shape[2], -1)
            dy_g = np.swapaxes(dy[items, g * og:(g + 1) * og, rows], 0, 1).reshape(og, -1)
            acc[g] += dy_g @ cols_g.T
    return acc.reshape(filter_shape)


def conv_dx(dy, w, *, input_shape, strides, pads, dilations, groups=1) -> np.ndarray:
    """:func:`harness.oracle.conv_dx` as GEMMs and a tap-by-tap col2im, channels-first.

    Per block of (batch items, rows of the first output dim) and group:
    ``contrib = W_g^T @ dy_block``, ``(items, Cg * taps, positions)`` with ``W_g`` the
    group's ``(Og, Cg * taps)`` filter rows, then each tap's ``(items, Cg, *out_block)``
    slab is added onto the padded input at ``s * p + d * k``: strided adds whose inner
    loop runs along the last output axis, not along the (often few) channels.
    """
    input_shape = tuple(int(v) for v in input_shape)
    pads, y_shape = _geometry(input_shape, w.shape, strides, pads, dilations, groups)
    oracle._check_dy(dy, y_shape)
    n, o, *out = y_shape
    c, (_, cg, *kernel) = input_shape[1], w.shape
    if 0 in y_shape:
        return np.zeros(input_shape)
    taps, og = list(itertools.product(*(range(k) for k in kernel))), o // groups
    filters = w.reshape(groups, og, cg * len(taps)).swapaxes(1, 2)   # (G, Cg * taps, Og)
    padded = [s + b + a for s, (b, a) in zip(input_shape[2:], pads)]
    dxpad = np.zeros((n, c, *padded))
    for items, rows in _blocks(n, out, len(taps) * c):
        first = rows.start or 0
        for g in range(groups):
            part = dy[items, g * og:(g + 1) * og, rows]              # (items, Og, *out_block)
            block = part.shape[2:]
            contrib = np.matmul(filters[g], part.reshape(*part.shape[:2], -1))
            contrib = contrib.reshape(part.shape[0], cg, len(taps), *block)
            for t, tap in enumerate(taps):
                index = (items, slice(g * cg, (g + 1) * cg),
                         *_tap_slices(tap, strides, dilations, block, first))
                dxpad[index] += contrib[:, :, t]
    return oracle._unpad(dxpad, pads, input_shape)
