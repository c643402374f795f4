"""Float64 NumPy reference for N-d convolution and its two gradients.

Pure NumPy, no deep-learning framework. Channels-first layout throughout:

* data ``x``: ``(N, C, *spatial)``
* filter ``w``: ``(O, C // groups, *kernel)``
* output ``y`` and cotangent ``dy``: ``(N, O, *out_spatial)``

The forward op is a cross-correlation (no kernel flip), as in every DL
framework. Notation used in the docstrings, for spatial multi-indices
``p`` (output position) and ``k`` (kernel tap), all products elementwise
per spatial axis:

* ``xpad``: ``x`` with ``pads[i] = (before, after)`` zeros added on spatial
  axis ``i``; a negative pad crops that many elements off that side instead.
* ``Cg = C // groups``, ``Og = O // groups``, ``g(o) = o // Og`` (the group of
  output channel ``o``), ``s`` strides, ``d`` dilations.
* output size per axis: ``floor((in + before + after - ((k - 1) * d + 1)) / s) + 1``
  (:func:`harness.numerics.padding.output_size`).

Vectorized per kernel tap: for one tap ``k`` the input positions
``s * p + d * k`` over all ``p`` form one strided slice (a view), so each tap
is a single ``einsum``; the only Python loop is over the taps.

Threads (:mod:`harness.numerics.threads`): while either path computes, NumPy's BLAS is
held to one thread, and the GEMM path runs its blocks on the oracle's own threads, as
many as its budget (``CONVGRAD_ORACLE_THREADS``, else the runner's); the values are the
same bits for every count.
"""
from __future__ import annotations

import itertools
from typing import Iterator, Sequence

import numpy as np

from harness.numerics import grid, oracle_gemm, threads
from harness.numerics.grid import conv_forward_output_shape  # noqa: F401 (its public home was here)

Shape = tuple[int, ...]
Pads = Sequence[Sequence[int]]

_SPATIAL_SUBSCRIPTS = "ABDEFHIJKLMPQRSTUVWXYZ"  # einsum letters for spatial axes


def conv(x: np.ndarray, w: np.ndarray, *, strides: Sequence[int], pads: Pads,
         dilations: Sequence[int], groups: int = 1) -> np.ndarray:
    """Grouped N-d cross-correlation, float64.

    ``y[n, o, p] = sum_{c < Cg} sum_{k} xpad[n, g(o) * Cg + c, s * p + d * k] * w[o, c, k]``

    One GEMM per group over im2col blocks (:mod:`harness.numerics.oracle_gemm`) where the
    reduction is long enough to pay for it, else :func:`conv_taps`; both compute
    the formula above and are tested against each other.
    """
    x, w = _as_f64(x), _as_f64(w)
    if oracle_gemm.worth_it(w.shape, groups):
        return oracle_gemm.conv(x, w, strides=strides, pads=pads, dilations=dilations,
                                groups=groups)
    return conv_taps(x, w, strides=strides, pads=pads, dilations=dilations, groups=groups)


def conv_dx(dy: np.ndarray, w: np.ndarray, *, input_shape: Sequence[int],
            strides: Sequence[int], pads: Pads, dilations: Sequence[int],
            groups: int = 1) -> np.ndarray:
    """Gradient of ``sum(conv(x, w) * dy)`` with respect to ``x``, float64, shape ``input_shape``.

    ``dxpad[n, g * Cg + c, s * p + d * k] += sum_{o in group g} dy[n, o, p] * w[o, c, k]``
    over all ``p`` and ``k``; then ``dx[n, ch, i] = dxpad[n, ch, i + before]``.
    Fast paths or :func:`conv_dx_taps`, as for :func:`conv`.
    """
    dy, w = _as_f64(dy), _as_f64(w)
    transposed = (w.shape[1], w.shape[0], *w.shape[2:])
    if groups == 1 and all(int(s) == 1 for s in strides) and \
            oracle_gemm.worth_it(transposed, 1) and 0 not in dy.shape and \
            np.isfinite(w).all():       # as a convolution, padding's 0 meets every weight
        return oracle_gemm.conv_dx_as_conv(dy, w, input_shape=grid.int_shape(input_shape),
                                           pads=pads, dilations=dilations)
    if oracle_gemm.worth_it(w.shape, groups):
        return oracle_gemm.conv_dx(dy, w, input_shape=input_shape,
                                   strides=strides, pads=pads, dilations=dilations,
                                   groups=groups)
    return conv_dx_taps(dy, w, input_shape=input_shape, strides=strides, pads=pads,
                        dilations=dilations, groups=groups)


def conv_dw(x: np.ndarray, dy: np.ndarray, *, filter_shape: Sequence[int],
            strides: Sequence[int], pads: Pads, dilations: Sequence[int],
            groups: int = 1) -> np.ndarray:
    """Gradient of ``sum(conv(x, w) * dy)`` with respect to ``w``, float64, shape ``filter_shape``.

    ``dw[o, c, k] = sum_{n} sum_{p} xpad[n, g(o) * Cg + c, s * p + d * k] * dy[n, o, p]``
    Fast paths or :func:`conv_dw_taps`, as for :func:`conv`.
    """
    x, dy = _as_f64(x), _as_f64(dy)
    if oracle_gemm.worth_it(filter_shape, groups):
        return oracle_gemm.conv_dw(x, dy, filter_shape=filter_shape,
                                   strides=strides, pads=pads, dilations=dilations,
                                   groups=groups)
    return conv_dw_taps(x, dy, filter_shape=filter_shape, strides=strides, pads=pads,
                        dilations=dilations, groups=groups)


def conv_taps(x: np.ndarray, w: np.ndarray, *, strides: Sequence[int], pads: Pads,
              dilations: Sequence[int], groups: int = 1) -> np.ndarray:
    """:func:`conv`, one ``einsum`` per kernel tap (the simple path).

    ``y[n, o, p] = sum_{c < Cg} sum_{k} xpad[n, g(o) * Cg + c, s * p + d * k] * w[o, c, k]``
    """
    x, w = _as_f64(x), _as_f64(w)
    y_shape = grid.conv_forward_output_shape(x.shape, w.shape, strides=strides, pads=pads,
                                        dilations=dilations, groups=groups)
    xpad = _grouped(grid.pad(x, pads), groups)
    w_g = _grouped(w, groups, axis=0)  # (G, Og, Cg, *k)
    y = np.zeros(_grouped_shape(y_shape, groups), dtype=np.float64)
    spec = _einsum_spec("ngc{s},goc->ngo{s}", len(y_shape) - 2)
    with threads.owned():                   # one BLAS thread (harness.numerics.threads)
        for tap in _taps(w.shape[2:]):
            window = _window(xpad, tap, strides, dilations, y_shape[2:])
            y += np.einsum(spec, window, w_g[(..., *tap)], optimize=True)
    return y.reshape(y_shape)


def conv_dx_taps(dy: np.ndarray, w: np.ndarray, *, input_shape: Sequence[int],
                 strides: Sequence[int], pads: Pads, dilations: Sequence[int],
                 groups: int = 1) -> np.ndarray:
    """:func:`conv_dx`, one ``einsum`` per kernel tap (the simple path).

    ``dxpad[n, g * Cg + c, s * p + d * k] += sum_{o in group g} dy[n, o, p] * w[o, c, k]``
    over all ``p`` and ``k``; then ``dx[n, ch, i] = dxpad[n, ch, i + before]``.
    Input elements no window touches (trailing rows left by a stride, or rows
    cropped by a negative pad) get exactly 0; when the output is empty, no
    window touches any, and ``dx`` is all zeros.
    """
    dy, w = _as_f64(dy), _as_f64(w)
    input_shape = grid.int_shape(input_shape)
    y_shape = grid.conv_forward_output_shape(input_shape, w.shape, strides=strides, pads=pads,
                                        dilations=dilations, groups=groups)
    grid.check_dy(dy, y_shape)
    dy_g, w_g = _grouped(dy, groups), _grouped(w, groups, axis=0)
    dxpad = np.zeros(_grouped_shape(grid.padded_shape(input_shape, pads), groups))
    spec = _einsum_spec("ngo{s},goc->ngc{s}", len(y_shape) - 2)
    with threads.owned():
        for tap in _taps(w.shape[2:]):
            window = _window(dxpad, tap, strides, dilations, y_shape[2:])
            window += np.einsum(spec, dy_g, w_g[(..., *tap)], optimize=True)
    return grid.unpad(dxpad.reshape(grid.padded_shape(input_shape, pads)), pads, input_shape)


def conv_dw_taps(x: np.ndarray, dy: np.ndarray, *, filter_shape: Sequence[int],
                 strides: Sequence[int], pads: Pads, dilations: Sequence[int],
                 groups: int = 1) -> np.ndarray:
    """:func:`conv_dw`, one ``einsum`` per kernel tap (the simple path).

    ``dw[o, c, k] = sum_{n} sum_{p} xpad[n, g(o) * Cg + c, s * p + d * k] * dy[n, o, p]``;
    an empty sum (no output position, or a batch of 0) is 0, so ``dw`` is then all zeros.
    """
    x, dy = _as_f64(x), _as_f64(dy)
    filter_shape = grid.int_shape(filter_shape)
    y_shape = grid.conv_forward_output_shape(x.shape, filter_shape, strides=strides, pads=pads,
                                        dilations=dilations, groups=groups)
    grid.check_dy(dy, y_shape)
    xpad, dy_g = _grouped(grid.pad(x, pads), groups), _grouped(dy, groups)
    dw = np.zeros(_grouped_shape(filter_shape, groups, axis=0))  # (G, Og, Cg, *k)
    spec = _einsum_spec("ngc{s},ngo{s}->goc", len(y_shape) - 2)
    with threads.owned():
        for tap in _taps(filter_shape[2:]):
            window = _window(xpad, tap, strides, dilations, y_shape[2:])
            dw[(..., *tap)] = np.einsum(spec, window, dy_g, optimize=True)
    return dw.reshape(filter_shape)


# --- taps and windows ------------------------------------------------------

def _taps(kernel: Shape) -> Iterator[tuple[int, ...]]:
    """Every kernel multi-index ``k``."""
    return itertools.product(*(range(k) for k in kernel))


def _window(xpad: np.ndarray, tap: Sequence[int], strides: Sequence[int],
            dilations: Sequence[int], out_spatial: Sequence[int]) -> np.ndarray:
    """View ``xpad[..., s * p + d * k]`` over all output positions ``p`` for one tap ``k``.

    With no output position (``o == 0``) the view is empty: the stop is clamped to the
    start, since ``d * k - s + 1`` may be negative and would count from the end.
    """
    spatial = tuple(slice(d * k, d * k + max(s * (o - 1) + 1, 0), s)
                    for k, s, d, o in zip(tap, strides, dilations, out_spatial))
    return xpad[(..., *spatial)]


# --- groups ----------------------------------------------------------------

def _grouped_shape(shape: Shape, groups: int, axis: int = 1) -> Shape:
    """``shape`` with axis ``axis`` split into ``(groups, shape[axis] // groups)``."""
    return (*shape[:axis], groups, shape[axis] // groups, *shape[axis + 1:])


def _grouped(a: np.ndarray, groups: int, axis: int = 1) -> np.ndarray:
    return a.reshape(_grouped_shape(a.shape, groups, axis))


def _einsum_spec(template: str, rank: int) -> str:
    if rank > len(_SPATIAL_SUBSCRIPTS):
        raise ValueError(f"at most {len(_SPATIAL_SUBSCRIPTS)} spatial dims, got {rank}")
    return template.format(s=_SPATIAL_SUBSCRIPTS[:rank])


# --- validation ------------------------------------------------------------

def _as_f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


# --- product counts (the bound's n) ------------------------------------------

def terms(grad: str, input_shape: Sequence[int], filter_shape: Sequence[int], *,
          strides: Sequence[int], pads: Pads, dilations: Sequence[int],
          groups: int = 1) -> np.ndarray:
    """How many products each element of ``grad`` (``y``, ``dx`` or ``dw`` of the forward
    conv) sums: what the oracle returns on all-ones inputs, from the geometry alone.

    The count factorizes over the spatial axes: per axis ``i``, with ``q = s * p + d * k
    - before`` the input position of output ``p`` and tap ``k``,

    * ``y``:  ``Cg * prod_i #{k : 0 <= q < in}`` at output ``p``;
    * ``dx``: ``Og * prod_i #{(p, k) : q == i}`` at input ``i``;
    * ``dw``: ``N  * prod_i #{p : 0 <= q < in}`` at tap ``k``.

    Returned as a read-only broadcast view of the result's shape (no full array).
    """
    input_shape, filter_shape = grid.int_shape(input_shape), grid.int_shape(filter_shape)
    y_shape = grid.conv_forward_output_shape(input_shape, filter_shape, strides=strides, pads=pads,
                                        dilations=dilations, groups=groups)
    (n, _, *sizes), (o, cg, *kernel), out = input_shape, filter_shape, y_shape[2:]
    counts = []
    for size, k, s, d, (before, _), m in zip(sizes, kernel, strides, dilations, pads, out):
        q = s * np.arange(m)[:, None] + d * np.arange(k)[None, :] - before   # (out, k)
        inside = (q >= 0) & (q < size)
        if grad == "y":
            counts.append(inside.sum(axis=1))
        elif grad == "dw":
            counts.append(inside.sum(axis=0))
        else:
            counts.append(np.bincount(q[inside], minlength=size)[:size])
    factor = {"y": cg, "dx": o // groups if groups else 0, "dw": n}[grad]
    shape = {"y": y_shape, "dx": input_shape, "dw": filter_shape}[grad]
    spatial = np.ones(())
    for axis_counts in counts:
        spatial = np.multiply.outer(spatial, axis_counts)
    return np.broadcast_to((factor * spatial).astype(np.float64), shape)
