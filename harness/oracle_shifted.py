"""The oracle's fast path for stride-1 convolutions: GEMMs on the flattened padded grid.

With stride 1 an output position and the input position one tap reads differ by
a constant offset once the padded input is flattened, one column per padded
position of every image: tap ``k`` (dilation ``d``) reads position ``q + off(k)``
for output position ``q``, ``off(k) = sum_i d_i * k_i * pitch_i`` with ``pitch_i``
the positions of one step along spatial axis ``i``. So, over all positions ``q``
of the flattened padded grid (``N * prod(padded)`` of them), channels-first,

* ``y[:, q]   = sum_k W_k @ xg[:, q + off(k)]``         (``W_k = w[:, :, k]``, ``(O, C)``)
* ``dxg[:, p] = sum_k W_k^T @ dyg[:, p - off(k)]``      (the same sum, kernel flipped)
* ``dW_k      = sum_q dyg[:, q] @ xg[:, q + off(k)]^T``

where ``xg`` is the padded input, ``dyg`` is ``dy`` placed on the same grid
(zero at positions that are not output positions) and ``dxg`` is the padded
input's gradient.

Each is one GEMM per block of positions with the taps stacked,
``(O, taps * C) @ (taps * C, block)`` (``dw``: ``(O, block) @ (block, taps * C)``);
the stacked operand is copied from the grid as ``taps * C`` contiguous runs of
``block`` elements, much cheaper than im2col from an ``(N, C, *S)`` array, and
this orientation of the product runs faster in OpenBLAS than ``(rows, K) @ (K, O)``.
The only layout change is the padded copy itself (``N`` and ``C`` swapped).

Positions that are not output positions are computed for nothing (about
``prod(padded) / prod(out)`` of the work, 7 % on a 56 x 56 3x3 SAME layer) and
dropped. They read positions of the next image or of a zero tail, which only
matters through ``0 * inf``: with a non-finite ``w`` (for ``dx``) or ``x`` (for
``dw``) the caller must use another path (:func:`applies`).

Peak memory: two arrays on the padded grid (the input and the result, or
``dy`` and the result) and one block: twice the largest operand plus the
padding's share of both, plus one block. The operands on the grid and the block
are scratch kept between calls (:func:`_scratch`, up to ``SCRATCH`` elements
each; :func:`release_scratch` drops them): paging fresh memory in cost a tenth
of the GEMM's time. Tested against
:func:`harness.oracle.conv_taps` and friends (tests/test_oracle.py).
"""
from __future__ import annotations

import itertools
import math
import threading
from typing import Sequence

import numpy as np

from harness import oracle

BLOCK = 1 << 19          # elements of one block of stacked taps, (taps * C, positions)
MIN_CHANNELS = 16        # fewer input or output channels are left to im2col
SCRATCH = 1 << 24        # elements kept between calls per scratch slot (128 MiB)


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
    """The flattened padded grid: positions per image, tap offsets, output positions.

    Arrays on the grid are channels-first, ``(channels, N * prod(padded) [+ tail])``:
    position ``q`` of every channel in one row, so a shifted slice is ``C`` runs of
    contiguous elements.
    """

    def __init__(self, input_shape, kernel, pads, dilations):
        self.n, self.c = int(input_shape[0]), int(input_shape[1])
        self.pads = [tuple(int(v) for v in p) for p in pads]
        self.padded = [s + b + a for s, (b, a) in zip(input_shape[2:], self.pads)]
        self.out = [p - (k - 1) * d for p, k, d in zip(self.padded, kernel, dilations)]
        pitch = [math.prod(self.padded[i + 1:]) for i in range(len(self.padded))]
        self.offsets = [sum(k * d * p for k, d, p in zip(tap, dilations, pitch))
                        for tap in itertools.product(*(range(k) for k in kernel))]
        self.positions = self.n * math.prod(self.padded)
        self.tail = max(self.offsets)                       # zeros after, for the last reads

    def valid(self) -> tuple[slice, ...]:
        """Index of the output positions in ``(channels, N, *padded)``."""
        return (slice(None), slice(None), *(slice(0, m) for m in self.out))

    def padded_input(self, x: np.ndarray, slot: int = 0) -> np.ndarray:
        """``x`` zero-padded (or cropped) as ``(C, positions + tail)``, in scratch ``slot``."""
        xg = _scratch((self.c, self.positions + self.tail), slot)
        in_x, in_xp = oracle._overlap(x.shape, self.pads)
        xg[:, self.positions:] = 0
        grid = xg[:, :self.positions].reshape(self.c, self.n, *self.padded)
        inside = [(s.start, s.stop) for s in in_xp[2:]]
        _zero_outside(grid, inside)
        grid[(slice(None), slice(None), *in_xp[2:])] = np.swapaxes(x[in_x], 0, 1)
        return xg

    def on_grid(self, dy: np.ndarray, lead: int = 0, slot: int = 1) -> np.ndarray:
        """``dy`` (N, O, *out) at its positions of the grid, zero elsewhere, after ``lead``
        zero columns: ``(O, lead + positions)``, in scratch ``slot``."""
        dyg = _scratch((dy.shape[1], lead + self.positions), slot)
        dyg[:, :lead] = 0
        grid = dyg[:, lead:].reshape(dy.shape[1], self.n, *self.padded)
        _zero_outside(grid, [(0, m) for m in self.out])
        grid[self.valid()] = np.swapaxes(dy, 0, 1)
        return dyg

    def result(self, g: np.ndarray) -> np.ndarray:
        """``(channels, positions)`` on the grid as ``(N, channels, *padded)`` (a view)."""
        return np.swapaxes(g[:, :self.positions].reshape(g.shape[0], self.n, *self.padded), 0, 1)


def _zero_outside(grid: np.ndarray, inside: list[tuple[int, int]]) -> None:
    """Zero every element of ``grid`` (``(channels, N, *spatial)``) outside the box
    ``inside`` (``(start, stop)`` per spatial axis): the slabs before and after it, axis by
    axis, so the box itself is written once, by the caller."""
    for axis, (start, stop) in enumerate(inside, start=2):
        before = [slice(None)] * grid.ndim
        before[axis] = slice(0, start)
        grid[tuple(before)] = 0
        before[axis] = slice(stop, None)
        grid[tuple(before)] = 0


_SCRATCH = threading.local()


def _scratch(shape: tuple[int, ...], slot: int) -> np.ndarray:
    """An uninitialized float64 array of ``shape`` for this call's operands on the grid,
    reused from call to call (per thread, one per ``slot``) up to ``SCRATCH`` elements:
    a fresh one is paged in by the kernel, which costs about as much as filling it, and
    the oracle runs twice per grad on the same shapes (values, absolute values)."""
    size = math.prod(shape)
    if size > SCRATCH:
        return np.empty(shape)
    buffers = _SCRATCH.__dict__.setdefault("buffers", {})
    if slot not in buffers or buffers[slot].size < size:
        buffers[slot] = np.empty(size)
    return buffers[slot][:size].reshape(shape)


def release_scratch() -> None:
    """Drop this thread's scratch arrays (the next call pages fresh ones in)."""
    _SCRATCH.__dict__.pop("buffers", None)


def _tap_weights(w: np.ndarray) -> np.ndarray:
    """``w`` (O, C, *k) as ``(O, taps * C)``, column ``t * C + c`` = ``w[o, c, tap t]``."""
    o, c = w.shape[:2]
    return np.ascontiguousarray(np.swapaxes(w.reshape(o, c, -1), 1, 2).reshape(o, -1))


def _gathered(src: np.ndarray, grid: _Grid):
    """Blocks ``(lo, hi, cols)``: ``cols[t * C + c, q - lo] = src[c, q + off(t)]``, ``(taps *
    C, hi - lo)``, for the grid positions ``lo <= q < hi``; ``src`` is ``(C, positions +
    tail)``. One buffer is reused: each block is only valid until the next."""
    c, taps = src.shape[0], len(grid.offsets)
    step = max(64, BLOCK // (taps * c))
    if taps == 1:                                       # one tap: the rows themselves
        for lo in range(0, grid.positions, step):
            hi = min(lo + step, grid.positions)
            yield lo, hi, src[:, lo + grid.offsets[0]:hi + grid.offsets[0]]
        return
    cols = _scratch((taps, c, min(step, grid.positions)), 2)
    for lo in range(0, grid.positions, step):
        hi = min(lo + step, grid.positions)
        for t, off in enumerate(grid.offsets):
            np.copyto(cols[t, :, :hi - lo], src[:, lo + off:hi + off])
        yield lo, hi, cols.reshape(taps * c, -1)[:, :hi - lo]


def _gathered_gemm(src: np.ndarray, weights: np.ndarray, grid: _Grid) -> np.ndarray:
    """``out[:, q] = sum_t weights[:, t] @ src[:, q + off(t)]`` for every grid position ``q``:
    one GEMM ``(O, taps * C) @ (taps * C, block)`` per block of :func:`_gathered` columns."""
    out = np.empty((weights.shape[0], grid.positions))
    for lo, hi, cols in _gathered(src, grid):
        np.matmul(weights, cols, out=out[:, lo:hi])
    return out


def conv(x, w, *, pads, dilations) -> np.ndarray:
    """:func:`harness.oracle.conv`, stride 1, groups 1: ``y[:, q] = sum_k W_k @ xg[:, q + off(k)]``."""
    grid = _Grid(x.shape, w.shape[2:], pads, dilations)
    yg = _gathered_gemm(grid.padded_input(x), _tap_weights(w), grid)
    return grid.result(yg)[(slice(None), slice(None), *(slice(0, m) for m in grid.out))]


def conv_dx(dy, w, *, input_shape, pads, dilations) -> np.ndarray:
    """:func:`harness.oracle.conv_dx`, stride 1, groups 1: ``dxg[:, p] = sum_k W_k^T @ dyg[:, p - off(k)]``.

    With ``dyg`` behind ``max(off)`` zero columns, ``dyg[:, p - off(k)]`` is column ``p +
    max(off) - off(k)``, and ``max(off) - off(k)`` is the offset of the flipped kernel's
    tap ``k``: the same gathered GEMM as ``y``, on ``dy`` with the kernel flipped and
    transposed.
    """
    kernel = w.shape[2:]
    grid = _Grid(input_shape, kernel, pads, dilations)
    flipped = np.flip(w, axis=tuple(range(2, w.ndim))).swapaxes(0, 1)   # (C, O, *k)
    dxg = _gathered_gemm(grid.on_grid(dy, lead=grid.tail), _tap_weights(flipped), grid)
    dxpad = grid.result(dxg)
    if all(b >= 0 and a >= 0 for b, a in grid.pads):       # a view: no copy of dx
        return dxpad[(slice(None), slice(None),
                      *(slice(b, b + s) for (b, _), s in zip(grid.pads, input_shape[2:])))]
    return oracle._unpad(dxpad, grid.pads, tuple(input_shape))


def conv_dw(x, dy, *, filter_shape, pads, dilations) -> np.ndarray:
    """:func:`harness.oracle.conv_dw`, stride 1, groups 1: ``dW_k = sum_q dyg[:, q] xg[:, q + off(k)]^T``,
    one GEMM ``(O, block) @ (block, taps * C)`` per block of :func:`_gathered` columns."""
    o, c, *kernel = filter_shape
    grid = _Grid(x.shape, kernel, pads, dilations)
    xg, dyg = grid.padded_input(x), grid.on_grid(dy)
    acc = np.zeros((o, len(grid.offsets) * c))
    part = np.empty_like(acc)
    for lo, hi, cols in _gathered(xg, grid):
        np.matmul(dyg[:, lo:hi], cols.T, out=part)
        acc += part
    # acc[o, t * C + c] = dw[o, c, tap t]
    return np.ascontiguousarray(np.swapaxes(acc.reshape(o, -1, c), 1, 2).reshape(filter_shape))
