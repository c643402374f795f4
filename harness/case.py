"""A case: one fully specified convolution, its values, and what sources claim.

Fields map one to one to the YAML keys documented in ``docs/cases.md``; the
loader (:mod:`harness.loader`) is the only place that builds them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Optional, Union

from harness import layouts, padding as pad

GRADS = ("y", "dx", "dw")
OPS = ("conv1d", "conv2d", "conv3d")

# A tensor's values: an explicit nested list, or a generator mapping such as
# {"random": "normal", "seed": 7}; None where the case does not need them.
ValueSpec = Optional[Union[list, dict]]


@dataclass(frozen=True)
class Claim:
    """Values a source says are the answer, in the case's own layouts.

    ``decimals``, ``rtol``, ``atol``: how the source printed or checked them, which
    widens the bound it is judged by (:func:`harness.expected.claim_tolerance`).
    """

    source: str
    values: dict[str, Any]  # grad name -> nested list
    line: int = 0
    decimals: Optional[int] = None   # printed to this many places after the point
    rtol: float = 0.0                # the source's own tolerance: rtol * |exact| + atol
    atol: float = 0.0


@dataclass(frozen=True)
class Case:
    id: str
    op: str
    grads: tuple[str, ...]
    data_format: str
    filter_format: str
    padding: Union[str, tuple[tuple[int, int], ...]]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    dtype: str
    input_shape: tuple[int, ...]   # laid out as data_format
    filter_shape: tuple[int, ...]  # laid out as filter_format
    x: ValueSpec = None
    w: ValueSpec = None
    dy: ValueSpec = None
    description: str = ""
    source: str = ""
    claims: tuple[Claim, ...] = ()
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def rank(self) -> int:
        return layouts.spatial_rank(self.op)

    @property
    def canonical_input_shape(self) -> tuple[int, ...]:
        """``(N, C, *spatial)``."""
        return layouts.shape_in(self.input_shape, self.data_format,
                                layouts.canonical_data(self.rank))

    @property
    def canonical_filter_shape(self) -> tuple[int, ...]:
        """``(O, I, *kernel)``."""
        return layouts.shape_in(self.filter_shape, self.filter_format,
                                layouts.canonical_filter(self.rank))

    @cached_property
    def axes(self) -> tuple[pad.AxisPadding, ...]:
        """Resolved padding per spatial axis (D, H, W order), resolved once per case."""
        return pad.resolve(self.padding, self.canonical_input_shape[2:],
                           self.canonical_filter_shape[2:], self.strides, self.dilations)

    @property
    def pads(self) -> list[tuple[int, int]]:
        return pad.pairs(self.axes)

    @property
    def canonical_output_shape(self) -> tuple[int, ...]:
        n, o = self.canonical_input_shape[0], self.canonical_filter_shape[0]
        return (n, o, *(a.output_size for a in self.axes))

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of ``y`` and ``dy``, laid out as ``data_format``."""
        return layouts.shape_in(self.canonical_output_shape,
                                layouts.canonical_data(self.rank), self.data_format)

    @property
    def padding_name(self) -> str:
        return self.padding if isinstance(self.padding, str) else "EXPLICIT"

    def layout_of(self, tensor: str) -> str:
        """Layout of ``x``/``dx``/``y``/``dy`` (``data_format``) or ``w``/``dw`` (``filter_format``)."""
        return self.filter_format if tensor in ("w", "dw") else self.data_format

    def shape_of(self, tensor: str) -> tuple[int, ...]:
        """Shape of ``x``/``dx``, ``w``/``dw`` or ``y``/``dy`` in the case's layouts."""
        return {"x": self.input_shape, "dx": self.input_shape, "w": self.filter_shape,
                "dw": self.filter_shape, "y": self.output_shape,
                "dy": self.output_shape}[tensor]
