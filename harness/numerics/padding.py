"""Padding modes resolved to per-side pads: the one place that knows the conventions.

Every other module (oracle, adapters, report) asks this one. Conventions:

* ``VALID``: no padding.
* ``SAME`` (TensorFlow, JAX ``'SAME'``, ONNX ``SAME_UPPER``): the output has
  ``ceil(in / stride)`` elements; the total pad is
  ``max((out - 1) * stride + (k - 1) * dilation + 1 - in, 0)``; when it is odd
  the extra element goes *after* the data.
* ``SAME_LOWER`` (JAX, ONNX): same total, the extra element goes *before*.
* explicit: one ``[before, after]`` pair per spatial dimension.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

PaddingSpec = Union[str, Sequence[Sequence[int]]]
MODES = ("VALID", "SAME", "SAME_LOWER")


@dataclass(frozen=True)
class AxisPadding:
    """Resolved padding of one spatial axis, with what it was computed from."""

    size: int
    kernel: int
    stride: int
    dilation: int
    before: int
    after: int

    @property
    def total(self) -> int:
        return self.before + self.after

    @property
    def effective_kernel(self) -> int:
        return (self.kernel - 1) * self.dilation + 1

    @property
    def output_size(self) -> int:
        return output_size(self.size, self.kernel, self.stride, self.dilation,
                           self.before, self.after)


def effective_kernel(kernel: int, dilation: int) -> int:
    """Extent of a dilated kernel: ``(k - 1) * d + 1``."""
    return (kernel - 1) * dilation + 1


def output_size(size: int, kernel: int, stride: int, dilation: int,
                before: int, after: int) -> int:
    """``floor((in + before + after - ((k - 1) * d + 1)) / s) + 1``; may be <= 0."""
    span = size + before + after - effective_kernel(kernel, dilation)
    return span // stride + 1 if span >= 0 else 0


def resolve_axis(mode: str | Sequence[int], size: int, kernel: int, stride: int,
                 dilation: int) -> AxisPadding:
    """Per-side pads of one axis for a mode name or an explicit ``[before, after]``."""
    if isinstance(mode, str):
        if mode == "VALID":
            before = after = 0
        elif mode in ("SAME", "SAME_LOWER"):
            out = -(-size // stride)
            total = max((out - 1) * stride + effective_kernel(kernel, dilation) - size, 0)
            small, large = total // 2, total - total // 2
            before, after = (small, large) if mode == "SAME" else (large, small)
        else:
            raise ValueError(f"unknown padding mode {mode!r}; expected one of {MODES}")
    else:
        before, after = (int(p) for p in mode)
    return AxisPadding(size, kernel, stride, dilation, before, after)


def resolve(padding: PaddingSpec, sizes: Sequence[int], kernel: Sequence[int],
            strides: Sequence[int], dilations: Sequence[int]) -> tuple[AxisPadding, ...]:
    """Resolve a case's padding over all spatial axes (explicit: one pair per axis)."""
    modes = [padding] * len(sizes) if isinstance(padding, str) else list(padding)
    return tuple(resolve_axis(m, n, k, s, d)
                 for m, n, k, s, d in zip(modes, sizes, kernel, strides, dilations, strict=True))


def pairs(axes: Sequence[AxisPadding]) -> list[tuple[int, int]]:
    """``[(before, after), ...]`` of resolved axes."""
    return [(a.before, a.after) for a in axes]


def is_symmetric(axes: Sequence[AxisPadding]) -> bool:
    return all(a.before == a.after for a in axes)
