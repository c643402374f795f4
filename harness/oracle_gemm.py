"""The oracle's fast path: each convolution as GEMMs over im2col blocks, float64.

Same formulas as :mod:`harness.oracle` (see its docstrings), arranged for BLAS:
the padded input is laid out channels-last, a strided view of it holds every
window as ``(N, *out, *kernel, C)`` without copying, and bounded blocks of
that view (about ``BLOCK`` elements) become contiguous ``(rows, K)`` matrices,
``K = C/groups * prod(kernel)``:

* ``y = cols @ W``, ``W = w`` as ``(K, O)`` per group;
* ``dw = sum over blocks of cols^T @ dy``;
* ``dx``: ``dy @ W^T`` per block gives every window's contribution ``(rows, taps,
  C)``, added back onto the padded input tap by tap (col2im).

Peak memory: the padded input (channels-last), the result, and one block.
Tested against :func:`harness.oracle.conv_taps` and friends on random
geometries (tests/test_oracle.py).
"""
from __future__ import annotations

import itertools
import math
from typing import Iterator, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from harness import oracle

BLOCK = 1 << 21                 # elements of one im2col block (16 MiB in float64)
MIN_REDUCTION = 16              # a shorter per-group reduction is left to the tap path


def worth_it(filter_shape: Sequence[int], groups: int) -> bool:
    """Whether the GEMM path pays: per-group reductions long enough for BLAS."""
    cg_k = int(filter_shape[1]) * math.prod(int(k) for k in filter_shape[2:])
    return groups <= 8 and cg_k >= MIN_REDUCTION and min(filter_shape) > 0


def _padded_channels_last(x: np.ndarray, pads) -> np.ndarray:
    """``x`` (N, C, *S) zero-padded (or cropped) per side, as (N, *S_padded, C)."""
    shape = (x.shape[0], *(n + b + a for n, (b, a) in zip(x.shape[2:], pads)), x.shape[1])
    xp = np.zeros(shape)
    in_x, in_xp = oracle._overlap(x.shape, pads)
    xp[(in_xp[0], *in_xp[2:], slice(None))] = np.moveaxis(x[in_x], 1, -1)
    return xp


def _windows(xcl: np.ndarray, kernel, strides, dilations, out) -> np.ndarray:
    """View ``(N, *out, *kernel, C)``: ``[n, p, k, c] = xpad[n, s * p + d * k, c]``."""
    st, r = xcl.strides, len(kernel)
    shape = (xcl.shape[0], *out, *kernel, xcl.shape[-1])
    steps = (st[0], *(st[1 + i] * strides[i] for i in range(r)),
             *(st[1 + i] * dilations[i] for i in range(r)), st[-1])
    return as_strided(xcl, shape, steps, writeable=False)


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


def _filter_matrices(w: np.ndarray, groups: int) -> np.ndarray:
    """``w`` (O, Cg, *k) as (G, K, Og) with K ordered (*k, Cg), matching the windows."""
    o, cg, *kernel = w.shape
    wk = np.moveaxis(w, 1, -1).reshape(groups, o // groups, math.prod(kernel) * cg)
    return np.ascontiguousarray(np.swapaxes(wk, 1, 2))


def conv(x, w, *, strides, pads, dilations, groups=1) -> np.ndarray:
    """:func:`harness.oracle.conv` as GEMMs."""
    pads, y_shape = _geometry(x.shape, w.shape, strides, pads, dilations, groups)
    n, o, *out = y_shape
    if 0 in y_shape:
        return np.zeros(y_shape)
    cg, kernel = w.shape[1], w.shape[2:]
    k_elems = math.prod(kernel) * cg
    view = _windows(_padded_channels_last(x, pads), kernel, strides, dilations, out)
    mats, og = _filter_matrices(w, groups), o // groups
    y = np.empty((n, *out, o))
    for items, rows in _blocks(n, out, k_elems * groups):
        block = view[items, rows]                         # (items, rows, *out[1:], *k, C)
        for g in range(groups):
            cols = block[..., g * cg:(g + 1) * cg].reshape(-1, k_elems)
            y[items, rows, ..., g * og:(g + 1) * og] = (cols @ mats[g]).reshape(
                *block.shape[:1 + len(out)], og)
    return np.moveaxis(y, -1, 1)


def conv_dw(x, dy, *, filter_shape, strides, pads, dilations, groups=1) -> np.ndarray:
    """:func:`harness.oracle.conv_dw` as GEMMs."""
    filter_shape = tuple(int(v) for v in filter_shape)
    pads, y_shape = _geometry(x.shape, filter_shape, strides, pads, dilations, groups)
    oracle._check_dy(dy, y_shape)
    n, o, *out = y_shape
    o, cg, *kernel = filter_shape
    if 0 in y_shape:
        return np.zeros(filter_shape)
    k_elems, og = math.prod(kernel) * cg, o // groups
    view = _windows(_padded_channels_last(x, pads), kernel, strides, dilations, out)
    dycl = np.moveaxis(dy, 1, -1)
    acc = np.zeros((groups, k_elems, og))
    for items, rows in _blocks(n, out, k_elems * groups):
        block, dyb = view[items, rows], dycl[items, rows]
        for g in range(groups):
            cols = block[..., g * cg:(g + 1) * cg].reshape(-1, k_elems)
            acc[g] += cols.T @ np.ascontiguousarray(dyb[..., g * og:(g + 1) * og]).reshape(-1, og)
    # acc[g] rows are ordered (*k, Cg): back to (O, Cg, *k)
    w = np.swapaxes(acc, 1, 2).reshape(o, *kernel, cg)
    return np.moveaxis(w, -1, 1)


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
                         *(slice(d * k + s * lo, d * k + s * (lo + m - 1) + 1, s)
                           for k, s, d, m, lo in zip(tap, strides, dilations, block,
                                                     [first] + [0] * (len(tap) - 1))))
                dxpad[index] += contrib[:, :, t]
    return oracle._unpad(dxpad, pads, input_shape)
