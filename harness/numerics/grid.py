"""The channels-first grid both oracle paths share: zero padding (a negative pad crops)
and its adjoint, and the shape check of ``dy``. Its own module so that the per-tap oracle
(:mod:`harness.numerics.oracle`) and the GEMM one (:mod:`harness.numerics.oracle_gemm`) both stand on it,
neither on the other."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from harness.numerics.padding import output_size

Shape = tuple[int, ...]
Pads = Sequence[Sequence[int]]


def padded_shape(shape: Shape, pads: Pads) -> Shape:
    return (*shape[:2], *(n + before + after for n, (before, after) in zip(shape[2:], pads)))


def overlap(shape: Shape, pads: Pads) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
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


def pad(x: np.ndarray, pads: Pads) -> np.ndarray:
    """``x`` zero-padded (positive pads) or cropped (negative pads) per spatial side."""
    xpad = np.zeros(padded_shape(x.shape, pads), dtype=np.float64)
    in_x, in_xpad = overlap(x.shape, pads)
    xpad[in_xpad] = x[in_x]
    return xpad


def unpad(dxpad: np.ndarray, pads: Pads, input_shape: Shape) -> np.ndarray:
    """Adjoint of :func:`pad`: the part of ``dxpad`` over x; cropped elements get 0."""
    dx = np.zeros(input_shape, dtype=np.float64)
    in_x, in_xpad = overlap(input_shape, pads)
    dx[in_x] = dxpad[in_xpad]
    return dx



def check_dy(dy: np.ndarray, y_shape: Shape) -> None:
    if dy.shape != y_shape:
        raise ValueError(f"dy has shape {dy.shape} but the forward conv produces {y_shape} "
                         f"(N, O, *out_spatial)")


def conv_forward_output_shape(input_shape: Sequence[int], filter_shape: Sequence[int], *,
                              strides: Sequence[int], pads: Pads,
                              dilations: Sequence[int], groups: int = 1) -> Shape:
    """``(N, O, *out_spatial)`` of ``conv``; ``ValueError`` if the shapes don't fit.

    ``out_spatial[i] = floor((in[i] + before[i] + after[i] - ((k[i] - 1) * d[i] + 1)) / s[i]) + 1``,
    or 0 when the dilated kernel is larger than the padded input: the output is
    then empty, a legitimate case (so are ``N``, ``C`` or ``O`` of 0).
    """
    input_shape, filter_shape = int_shape(input_shape), int_shape(filter_shape)
    check_shapes(input_shape, filter_shape, groups)
    pads = check_params(len(input_shape) - 2, strides, pads, dilations)
    out = tuple(output_size(n, k, s, d, before, after) for n, k, s, d, (before, after)
                in zip(input_shape[2:], filter_shape[2:], strides, dilations, pads))
    return (input_shape[0], filter_shape[0], *out)


def int_shape(shape: Sequence[int]) -> Shape:
    return tuple(int(n) for n in shape)


def check_shapes(input_shape: Shape, filter_shape: Shape, groups: int) -> None:
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


def check_params(rank: int, strides: Sequence[int], pads: Pads,
                  dilations: Sequence[int]) -> list[tuple[int, int]]:
    """Validated ``pads`` as ``[(before, after), ...]``."""
    if isinstance(pads, str):
        raise ValueError(f"pads must be explicit (before, after) pairs, got {pads!r}; "
                         f"resolve mode names with harness.numerics.padding.resolve / pairs")
    pairs = [tuple(int(v) for v in pair) for pair in pads]
    if len(strides) != rank or len(dilations) != rank or len(pairs) != rank:
        raise ValueError(f"{rank} spatial dims need {rank} strides, dilations and pads, "
                         f"got strides={strides}, dilations={dilations}, pads={pads}")
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"pads must be (before, after) pairs, got {pads}")
    if min(strides) < 1 or min(dilations) < 1:
        raise ValueError(f"strides {strides} and dilations {dilations} must be >= 1")
    return pairs
