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
  (:func:`harness.padding.output_size`).

Vectorized per kernel tap: for one tap ``k`` the input positions
``s * p + d * k`` over all ``p`` form one strided slice (a view), so each tap
is a single ``einsum``; the only Python loop is over the taps.
"""
from __future__ import annotations

import itertools
from typing import Iterator, Sequence

import numpy as np

from harness.padding import output_size

Shape = tuple[int, ...]
Pads = Sequence[Sequence[int]]

_SPATIAL_SUBSCRIPTS = "ABDEFHIJKLMPQRSTUVWXYZ"  # einsum letters for spatial axes


def conv_forward_output_shape(input_shape: Sequence[int], filter_shape: Sequence[int], *,
                              strides: Sequence[int], pads: Pads,
                              dilations: Sequence[int], groups: int = 1) -> Shape:
    """``(N, O, *out_spatial)`` of ``conv``; ``ValueError`` if the shapes don't fit.

    ``out_spatial[i] = floor((in[i] + before[i] + after[i] - ((k[i] - 1) * d[i] + 1)) / s[i]) + 1``,
    or 0 when the dilated kernel is larger than the padded input: the output is
    then empty, a legitimate case (so are ``N``, ``C`` or ``O`` of 0).
    """
    input_shape, filter_shape = _int_shape(input_shape), _int_shape(filter_shape)
    _check_shapes(input_shape, filter_shape, groups)
    pads = _check_params(len(input_shape) - 2, strides, pads, dilations)
    out = tuple(output_size(n, k, s, d, before, after) for n, k, s, d, (before, after)
                in zip(input_shape[2:], filter_shape[2:], strides, dilations, pads))
    return (input_shape[0], filter_shape[0], *out)


def conv(x: np.ndarray, w: np.ndarray, *, strides: Sequence[int], pads: Pads,
         dilations: Sequence[int], groups: int = 1) -> np.ndarray:
    """Grouped N-d cross-correlation, float64.

    ``y[n, o, p] = sum_{c < Cg} sum_{k} xpad[n, g(o) * Cg + c, s * p + d * k] * w[o, c, k]``

    One GEMM per group over im2col blocks (:mod:`harness.oracle_gemm`) where the
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
        return oracle_gemm.conv_dx_as_conv(dy, w, input_shape=_int_shape(input_shape),
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
    y_shape = conv_forward_output_shape(x.shape, w.shape, strides=strides, pads=pads,
                                        dilations=dilations, groups=groups)
    xpad = _grouped(_pad(x, pads), groups)
    w_g = _grouped(w, groups, axis=0)  # (G, Og, Cg, *k)
    y = np.zeros(_grouped_shape(y_shape, groups), dtype=np.float64)
    spec = _einsum_spec("ngc{s},goc->ngo{s}", len(y_shape) - 2)
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
    input_shape = _int_shape(input_shape)
    y_shape = conv_forward_output_shape(input_shape, w.shape, strides=strides, pads=pads,
                                        dilations=dilations, groups=groups)
    _check_dy(dy, y_shape)
    dy_g, w_g = _grouped(dy, groups), _grouped(w, groups, axis=0)
    dxpad = np.zeros(_grouped_shape(_padded_shape(input_shape, pads), groups))
    spec = _einsum_spec("ngo{s},goc->ngc{s}", len(y_shape) - 2)
    for tap in _taps(w.shape[2:]):
        window = _window(dxpad, tap, strides, dilations, y_shape[2:])
        window += np.einsum(spec, dy_g, w_g[(..., *tap)], optimize=True)
    return _unpad(dxpad.reshape(_padded_shape(input_shape, pads)), pads, input_shape)


def conv_dw_taps(x: np.ndarray, dy: np.ndarray, *, filter_shape: Sequence[int],
                 strides: Sequence[int], pads: Pads, dilations: Sequence[int],
                 groups: int = 1) -> np.ndarray:
    """:func:`conv_dw`, one ``einsum`` per kernel tap (the simple path).

    ``dw[o, c, k] = sum_{n} sum_{p} xpad[n, g(o) * Cg + c, s * p + d * k] * dy[n, o, p]``;
    an empty sum (no output position, or a batch of 0) is 0, so ``dw`` is then all zeros.
    """
    x, dy = _as_f64(x), _as_f64(dy)
    filter_shape = _int_shape(filter_shape)
    y_shape = conv_forward_output_shape(x.shape, filter_shape, strides=strides, pads=pads,
                                        dilations=dilations, groups=groups)
    _check_dy(dy, y_shape)
    xpad, dy_g = _grouped(_pad(x, pads), groups), _grouped(dy, groups)
    dw = np.zeros(_grouped_shape(filter_shape, groups, axis=0))  # (G, Og, Cg, *k)
    spec = _einsum_spec("ngc{s},ngo{s}->goc", len(y_shape) - 2)
    for tap in _taps(filter_shape[2:]):
        window = _window(xpad, tap, strides, dilations, y_shape[2:])
        dw[(..., *tap)] = np.einsum(spec, window, dy_g, optimize=True)
    return dw.reshape(filter_shape)


# --- padding ---------------------------------------------------------------

def _padded_shape(shape: Shape, pads: Pads) -> Shape:
    return (*shape[:2], *(n + before + after for n, (before, after) in zip(shape[2:], pads)))


def _overlap(shape: Shape, pads: Pads) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices ``(in_x, in_xpad)`` with ``xpad[in_xpad] == x[in_x]``; the rest of xpad is 0.

    A negative ``before`` / ``after`` drops that many elements of x at that end.
    """
    in_x, in_xpad = [slice(None)] * 2, [slice(None)] * 2
    for n, (before, after) in zip(shape[2:], pads):
        start, stop = max(-before, 0), n - max(-after, 0)
        kept = max(stop - start, 0)
        in_x.append(slice(start, start + kept))
        in_xpad.append(slice(max(before, 0), max(before, 0) + kept))
    return tuple(in_x), tuple(in_xpad)


def _pad(x: np.ndarray, pads: Pads) -> np.ndarray:
    """``x`` zero-padded (positive pads) or cropped (negative pads) per spatial side."""
    xpad = np.zeros(_padded_shape(x.shape, pads), dtype=np.float64)
    in_x, in_xpad = _overlap(x.shape, pads)
    xpad[in_xpad] = x[in_x]
    return xpad


def _unpad(dxpad: np.ndarray, pads: Pads, input_shape: Shape) -> np.ndarray:
    """Adjoint of :func:`_pad`: the part of ``dxpad`` over x; cropped elements get 0."""
    dx = np.zeros(input_shape, dtype=np.float64)
    in_x, in_xpad = _overlap(input_shape, pads)
    dx[in_x] = dxpad[in_xpad]
    return dx


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


def _int_shape(shape: Sequence[int]) -> Shape:
    return tuple(int(n) for n in shape)


def _check_shapes(input_shape: Shape, filter_shape: Shape, groups: int) -> None:
    if len(input_shape) < 3 or len(filter_shape) != len(input_shape):
        raise ValueError(f"need x (N, C, *spatial) and w (O, C // groups, *kernel) of the "
                         f"same rank >= 3, got x {input_shape} and w {filter_shape}")
    (_, c), (o, cg) = input_shape[:2], filter_shape[:2]
    if groups < 1 or c % groups or o % groups:
        raise ValueError(f"groups={groups} must be >= 1 and divide both input channels "
                         f"C={c} and output channels O={o}")
    if cg != c // groups:
        raise ValueError(f"w {filter_shape} has {cg} input channels; x {input_shape} with "
                         f"groups={groups} needs C // groups = {c // groups}")
    if min(input_shape) < 0 or min(filter_shape) < 0:
        raise ValueError(f"negative size in x {input_shape} or w {filter_shape}")
    if min(filter_shape[2:]) < 1:
        raise ValueError(f"w {filter_shape} has a kernel size of 0: every kernel dimension "
                         f"needs at least one tap")


def _check_params(rank: int, strides: Sequence[int], pads: Pads,
                  dilations: Sequence[int]) -> list[tuple[int, int]]:
    """Validated ``pads`` as ``[(before, after), ...]``."""
    if isinstance(pads, str):
        raise ValueError(f"pads must be explicit (before, after) pairs, got {pads!r}; "
                         f"resolve mode names with harness.padding.resolve / pairs")
    pairs = [tuple(int(v) for v in pair) for pair in pads]
    if len(strides) != rank or len(dilations) != rank or len(pairs) != rank:
        raise ValueError(f"{rank} spatial dims need {rank} strides, dilations and pads, "
                         f"got strides={strides}, dilations={dilations}, pads={pads}")
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"pads must be (before, after) pairs, got {pads}")
    if min(strides) < 1 or min(dilations) < 1:
        raise ValueError(f"strides {strides} and dilations {dilations} must be >= 1")
    return pairs


def _check_dy(dy: np.ndarray, y_shape: Shape) -> None:
    if dy.shape != y_shape:
        raise ValueError(f"dy has shape {dy.shape} but the forward conv produces {y_shape} "
                         f"(N, O, *out_spatial)")


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
    input_shape, filter_shape = _int_shape(input_shape), _int_shape(filter_shape)
    y_shape = conv_forward_output_shape(input_shape, filter_shape, strides=strides, pads=pads,
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


# The fast path reads this module's helpers; imported last so that both load in any order.
from harness import oracle_gemm  # noqa: E402
