"""The oracle's fast path: each convolution as GEMMs over im2col blocks, float64.

Same formulas as :mod:`harness.numerics.oracle` (see its docstrings), arranged for BLAS,
channels-first throughout. For a block of (batch items, rows of the first
output dim) of about ``BLOCK`` elements, every tap's window slab
``xpad[items, :, s * p + d * k]`` is copied into ``cols``, ``(C, taps, items,
*out_block)``, with the inner loop along the last output axis. Per group ``g``
(its ``Cg`` channels, ``K = Cg * taps`` rows of ``cols``, its ``Og`` filters
``W_g``, ``(Og, K)``):

* ``y[items, g, block] = W_g @ cols_g``                 ``(Og, K) @ (K, positions)``
* ``dw_g += dy_g @ cols_g^T``                           ``(Og, positions) @ (positions, K)``
* ``dx``: with stride 1 and one group, the convolution of ``dy`` with the kernel
  flipped and transposed (:func:`conv_dx_as_conv`); otherwise ``W_g^T @ dy_g``
  gives every window's contribution ``(K, positions)``, added back onto ``dx``
  tap by tap where the windows cover ``x`` (col2im).

The blocks run on the oracle's own threads, BLAS held to one thread meanwhile
(:func:`harness.numerics.threads.each_block`; how many: its budget): each thread
fills its own ``cols`` buffer and multiplies it; ``y``'s blocks write apart, and the
sums over blocks (``dw``, the col2im of ``dx``) are added in block order, so every
thread count gives the same bits. ``BLOCK``, measured on the ResNet layer on a 2-vCPU
EPYC (1 MiB L2 a core, 32 MiB L3; benchmarks/oracle_load.py ``--blocks``, two threads,
speed against the same-shape GEMM): 2**16 elements 0.68-0.76, 2**17 0.84-0.88, 2**18
0.89-0.99, 2**19 0.95-1.06, 2**20 and 2**21 0.84-1.06 (CPU time per call, one thread:
2**16 10-25 % more, 2**17 to 2**21 the same within noise); 2**19 (4 MiB a thread) is kept.

With 16 or more input channels the slabs are read from ``x`` itself, clipped to
where each tap's windows cover it and zero elsewhere (:class:`_ClippedColumns`):
no padded copy, so the peak memory is the result and a block per thread. With fewer (an
RGB stem) one strided copy per block from a padded copy of ``x`` costs less than
a copy per tap (:class:`_Columns`). This orientation of the product,
``(O, K) @ (K, positions)``, also runs faster in OpenBLAS than ``(rows, K) @ (K, O)``.
Tested against :func:`harness.numerics.oracle.conv_taps` and friends on random
geometries (tests/test_oracle.py).
"""
from __future__ import annotations

import itertools
import math
from typing import Iterator, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from harness.numerics import grid, threads

BLOCK = 1 << 19                 # elements of one im2col block (4 MiB in float64)
MIN_REDUCTION = 16              # a shorter per-group reduction is left to the tap path
CLIP_CHANNELS = 16              # from this many input channels, columns come from x itself
_empty = np.empty               # the block buffers (a test fills them with NaN instead)


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
    y_shape = grid.conv_forward_output_shape(input_shape, filter_shape, strides=strides,
                                               pads=pads, dilations=dilations, groups=groups)
    return [tuple(int(v) for v in p) for p in pads], y_shape


def _tap_slices(tap, strides, dilations, block, first: int) -> tuple[slice, ...]:
    """The padded input's positions ``s * p + d * k`` of one tap over a block of outputs
    (``block`` sizes, starting at row ``first`` of the first output dim)."""
    starts = [first] + [0] * (len(tap) - 1)
    return tuple(slice(d * k + s * lo, d * k + s * (lo + m - 1) + 1, s)
                 for k, s, d, m, lo in zip(tap, strides, dilations, block, starts))


def _clipped(tap, strides, dilations, pads, sizes, block, first: int):
    """Where one tap over a block of outputs reads ``x`` itself, not padding.

    Output position ``p`` (``block`` sizes, the first output dim starting at ``first``)
    reads ``x`` at ``q = s * p + d * k - before``; returns ``(src, dst)``, slices of
    ``x``'s spatial axes and of the block's, for the ``p`` with ``0 <= q < size`` on every
    axis, or ``None`` when the tap reads only padding for this block. A negative
    ``before`` (a crop) shifts ``q`` the other way; a crop after the data needs nothing,
    since no window reaches it.
    """
    src, dst = [], []
    starts = [first] + [0] * (len(tap) - 1)
    for k, s, d, (before, _), size, m, start in zip(tap, strides, dilations, pads, sizes,
                                                    block, starts):
        off = d * k - before
        lo = max(start, -(off // s))                        # first p with q >= 0
        hi = min(start + m, (size - 1 - off) // s + 1)      # past the last p with q < size
        if hi <= lo:
            return None
        src.append(slice(s * lo + off, s * (hi - 1) + off + 1, s))
        dst.append(slice(lo - start, hi - start))
    return tuple(src), tuple(dst)


def _zero_outside(region: np.ndarray, box: tuple[slice, ...], sizes) -> None:
    """Zero ``region`` (``(channels, items, *spatial)``, ``sizes`` spatial) outside ``box``
    (a slice per spatial axis): the non-empty slabs before and after it, axis by axis."""
    for axis, (inside, size) in enumerate(zip(box, sizes), start=2):
        index = [slice(None)] * region.ndim
        if inside.start > 0:
            index[axis] = slice(0, inside.start)
            region[tuple(index)] = 0
        if inside.stop < size:
            index[axis] = slice(inside.stop, None)
            region[tuple(index)] = 0


class _Reused:
    """One float64 buffer for a convolution's column blocks, grown when a block needs more
    (each block is valid until the next is taken)."""

    def __init__(self):
        self.array: np.ndarray | None = None

    def take(self, size: int) -> np.ndarray:
        if self.array is None or self.array.size < size:
            self.array = _empty(size)
        return self.array[:size]


class _ClippedColumns:
    """The im2col blocks of one convolution, ``cols`` ``(C, taps, items, *out_block)``, read
    from ``x`` itself: each tap's slab is the part of ``x`` its windows cover, zeros where
    they cover padding, so no padded copy of ``x`` is made (peak memory: the result and
    one block)."""

    def __init__(self, x, kernel, strides, dilations, pads, out):
        self.x, self.out, self.pads = x, out, pads
        self.taps = list(itertools.product(*(range(k) for k in kernel)))
        self.strides, self.dilations = strides, dilations

    def plan(self) -> list[tuple[slice, slice]]:
        """The blocks, ``(items, rows)``: a 1x1 kernel's slabs are views of x, so one item
        per block keeps them one matrix."""
        n = self.x.shape[0]
        if len(self.taps) == 1:
            return [(slice(i, i + 1), slice(None)) for i in range(n)]
        return list(_blocks(n, self.out, len(self.taps) * self.x.shape[1]))

    def fill(self, items: slice, rows: slice, scratch: dict) -> np.ndarray:
        """One block's ``cols``, in the calling thread's buffer (valid until its next block)."""
        n, c = self.x.shape[:2]
        count = len(range(*items.indices(n)))
        block = (len(range(*rows.indices(self.out[0]))), *self.out[1:])
        wheres = [_clipped(tap, self.strides, self.dilations, self.pads,
                           self.x.shape[2:], block, rows.start or 0) for tap in self.taps]
        if len(self.taps) == 1 and wheres[0] and all(       # x's slab is the block
                d.stop - d.start == m for d, m in zip(wheres[0][1], block)):
            return np.swapaxes(self.x[(items, slice(None), *wheres[0][0])], 0, 1)[:, None]
        shape = (c, len(self.taps), count, *block)
        cols = scratch.setdefault("cols", _Reused()).take(math.prod(shape)).reshape(shape)
        for t, where in enumerate(wheres):
            if where is None:
                cols[:, t] = 0
                continue
            src, dst = where
            _zero_outside(cols[:, t], dst, block)
            cols[(slice(None), t, slice(None), *dst)] = np.swapaxes(
                self.x[(items, slice(None), *src)], 0, 1)
        return cols


class _Columns:
    """The im2col blocks of one convolution, ``cols`` ``(C, taps, items, *out_block)``, from
    a padded copy of ``x``: one strided copy per block, for few channels (an RGB stem)
    where :class:`_ClippedColumns`' per-tap copies cost more than the copy of ``x``."""

    def __init__(self, x, kernel, strides, dilations, pads, out):
        xpad = grid.pad(x, pads)
        self.n, self.c, self.kernel, self.out = x.shape[0], x.shape[1], tuple(kernel), out
        # windows[n, c, k, p] = xpad[n, c, s * p + d * k], a view: (N, C, *kernel, *out)
        step = xpad.strides[2:]
        self.windows = as_strided(
            xpad, (*xpad.shape[:2], *kernel, *out),
            (*xpad.strides[:2], *(d * st for d, st in zip(dilations, step)),
             *(s * st for s, st in zip(strides, step))), writeable=False)

    def plan(self) -> list[tuple[slice, slice]]:
        """The blocks, ``(items, rows)``."""
        return list(_blocks(self.n, self.out, math.prod(self.kernel) * self.c))

    def fill(self, items: slice, rows: slice, scratch: dict) -> np.ndarray:
        """One block's ``cols``, in the calling thread's buffer (valid until its next block)."""
        r, taps = len(self.kernel), math.prod(self.kernel)
        order = (1, *range(2, 2 + r), 0, *range(2 + r, 2 + 2 * r))   # (C, *k, items, *out)
        view = self.windows[(items, slice(None), *[slice(None)] * r, rows)]
        shape = [view.shape[i] for i in order]
        cols = scratch.setdefault("cols", _Reused()).take(view.size)
        np.copyto(cols.reshape(shape), view.transpose(order))
        return cols.reshape(self.c, taps, *shape[1 + r:])


def _columns(x, kernel, strides, dilations, pads, out):
    builder = _ClippedColumns if x.shape[1] >= CLIP_CHANNELS else _Columns
    return builder(x, kernel, strides, dilations, pads, out)


def conv(x, w, *, strides, pads, dilations, groups=1) -> np.ndarray:
    """:func:`harness.numerics.oracle.conv` as GEMMs: ``y_g = W_g @ cols_g`` per block."""
    pads, y_shape = _geometry(x.shape, w.shape, strides, pads, dilations, groups)
    n, o, *out = y_shape
    if 0 in y_shape:
        return np.zeros(y_shape)
    og, cg = o // groups, w.shape[1]
    filters = w.reshape(groups, og, -1)                     # (G, Og, Cg * taps)
    y = np.empty(y_shape)
    columns = _columns(x, w.shape[2:], strides, dilations, pads, out)

    def work(block, scratch) -> None:
        items, rows = block
        cols = columns.fill(items, rows, scratch)
        for g in range(groups):
            cols_g = cols[g * cg:(g + 1) * cg].reshape(filters.shape[2], -1)
            target = _as_matrix(y[items, g * og:(g + 1) * og, rows])
            if target is not None:                  # one batch item: straight into y
                np.matmul(filters[g], cols_g, out=target)
                continue
            part = (filters[g] @ cols_g).reshape(og, *cols.shape[2:])
            y[items, g * og:(g + 1) * og, rows] = np.swapaxes(part, 0, 1)

    with threads.owned() as count:              # blocks write apart: any order will do
        threads.each_block(columns.plan(), work, count)
    return y


def _as_matrix(block: np.ndarray) -> np.ndarray | None:
    """``block`` ``(1, O, *spatial)`` as an ``(O, positions)`` view of the same memory, or
    None where it is several items or its positions are not one run per channel."""
    if block.shape[0] != 1:
        return None
    view = block[0].view()
    try:
        view.shape = (view.shape[0], -1)        # raises rather than copy
    except AttributeError:
        return None
    return view


def conv_dw(x, dy, *, filter_shape, strides, pads, dilations, groups=1) -> np.ndarray:
    """:func:`harness.numerics.oracle.conv_dw` as GEMMs: ``dw_g = sum over blocks of dy_g @ cols_g^T``."""
    filter_shape = tuple(int(v) for v in filter_shape)
    pads, y_shape = _geometry(x.shape, filter_shape, strides, pads, dilations, groups)
    grid.check_dy(dy, y_shape)
    n, o, *out = y_shape
    o, cg, *kernel = filter_shape
    if 0 in y_shape:
        return np.zeros(filter_shape)
    og = o // groups
    acc = np.zeros((groups, og, cg * math.prod(kernel)))
    columns = _columns(x, kernel, strides, dilations, pads, out)

    def work(block, scratch) -> list[np.ndarray]:
        items, rows = block
        cols = columns.fill(items, rows, scratch)
        parts = []
        for g in range(groups):
            cols_g = cols[g * cg:(g + 1) * cg].reshape(acc.shape[2], -1)
            dy_g = np.swapaxes(dy[items, g * og:(g + 1) * og, rows], 0, 1).reshape(og, -1)
            parts.append(dy_g @ cols_g.T)
        return parts

    def finish(index: int, parts: list[np.ndarray]) -> None:
        for g, part in enumerate(parts):        # in block order, as one thread adds them
            acc[g] += part

    with threads.owned() as count:
        threads.each_block(columns.plan(), work, count, finish)
    return acc.reshape(filter_shape)


def conv_dx_as_conv(dy, w, *, input_shape, pads, dilations) -> np.ndarray:
    """:func:`harness.numerics.oracle.conv_dx` for stride 1 and one group, as a convolution: ``dx``
    is ``dy`` correlated with the kernel flipped and transposed, ``(C, O, *k)``, padded
    ``d * (k - 1) - before`` before and ``d * (k - 1) - after`` after (a negative pad
    crops), so it takes :func:`conv`'s column GEMMs (and their memory: ``dx`` and one
    block) instead of a scatter."""
    kernel = w.shape[2:]
    input_shape = tuple(int(v) for v in input_shape)
    pads, y_shape = _geometry(input_shape, w.shape, [1] * len(kernel), pads, dilations, 1)
    grid.check_dy(dy, y_shape)
    flipped = np.flip(w, axis=tuple(range(2, w.ndim))).swapaxes(0, 1)
    reach = [d * (k - 1) for k, d in zip(kernel, dilations)]
    pads = [(r - int(b), r - int(a)) for r, (b, a) in zip(reach, pads)]
    dx = conv(dy, np.ascontiguousarray(flipped), strides=[1] * len(kernel), pads=pads,
              dilations=dilations)
    if tuple(dx.shape) != tuple(input_shape):
        raise AssertionError(f"dx as a convolution has shape {dx.shape}, not {input_shape}")
    return dx


def conv_dx(dy, w, *, input_shape, strides, pads, dilations, groups=1) -> np.ndarray:
    """:func:`harness.numerics.oracle.conv_dx` as GEMMs and a tap-by-tap col2im, channels-first.

    Per block of (batch items, rows of the first output dim) and group:
    ``contrib = W_g^T @ dy_block``, ``(items, Cg * taps, positions)`` with ``W_g`` the
    group's ``(Og, Cg * taps)`` filter rows, then each tap's ``(items, Cg, *out_block)``
    slab is added onto ``dx`` where its windows cover ``x`` (:func:`_clipped`): strided
    adds whose inner loop runs along the last output axis, not along the (often few)
    channels.
    """
    input_shape = tuple(int(v) for v in input_shape)
    pads, y_shape = _geometry(input_shape, w.shape, strides, pads, dilations, groups)
    grid.check_dy(dy, y_shape)
    n, o, *out = y_shape
    c, (_, cg, *kernel) = input_shape[1], w.shape
    if 0 in y_shape:
        return np.zeros(input_shape)
    taps, og = list(itertools.product(*(range(k) for k in kernel))), o // groups
    filters = w.reshape(groups, og, cg * len(taps)).swapaxes(1, 2)   # (G, Cg * taps, Og)
    dx = np.zeros(input_shape)
    plan = list(_blocks(n, out, len(taps) * c))

    def work(block, scratch) -> list[np.ndarray]:
        items, rows = block
        contribs = []
        for g in range(groups):
            part = dy[items, g * og:(g + 1) * og, rows]              # (items, Og, *out_block)
            contrib = np.matmul(filters[g], part.reshape(*part.shape[:2], -1))
            contribs.append(contrib.reshape(part.shape[0], cg, len(taps), *part.shape[2:]))
        return contribs

    def finish(index: int, contribs: list[np.ndarray]) -> None:
        items, rows = plan[index]               # in block order: windows of blocks overlap
        first = rows.start or 0
        for g, contrib in enumerate(contribs):
            block = contrib.shape[3:]
            for t, tap in enumerate(taps):
                where = _clipped(tap, strides, dilations, pads, input_shape[2:], block, first)
                if where is None:                 # this tap read only padding here
                    continue
                src, dst = where
                dx[(items, slice(g * cg, (g + 1) * cg), *src)] += \
                    contrib[(slice(None), slice(None), t, *dst)]

    with threads.owned() as count:
        threads.each_block(plan, work, count, finish)
    return dx
