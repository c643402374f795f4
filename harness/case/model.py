"""A case: one fully specified convolution, its values, and what sources claim.

Fields map one to one to the YAML keys documented in ``docs/cases.md``; the
loader (:mod:`harness.case.loader`) is the only place that builds them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Optional, Union

from harness.numerics import layouts, padding as pad
from harness.case import ops
from harness.case.ops import GRADS as GRADS  # the grads every op has, re-exported

OPS = tuple(ops.OPS)

# A tensor's values: an explicit nested list, or a generator mapping such as
# {"random": "normal", "seed": 7}; None where the case does not need them.
ValueSpec = Optional[Union[list, dict]]


@dataclass(frozen=True)
class Claim:
    """Values a source says are the answer, in the case's own layouts.

    ``decimals``, ``rtol``, ``atol``: how the source printed or checked them, which
    widens the bound it is judged by (:func:`harness.verdict.expected.claim_tolerance`).
    """

    source: str
    values: dict[str, Any]  # grad name -> nested list
    line: int = 0
    decimals: Optional[int] = None   # printed to this many places after the point
    rtol: float = 0.0                # the source's own tolerance: rtol * |exact| + atol
    atol: float = 0.0
    finding: str = ""                # what is known about this source's values (a wrong
                                     # claim stays wrong; the finding explains it)


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
    tx: ValueSpec = None      # forward-mode tangents (jvp)
    tw: ValueSpec = None
    gx: ValueSpec = None      # second-order cotangents (ddy, ddx, ddw)
    gw: ValueSpec = None
    description: str = ""
    source: str = ""
    claims: tuple[Claim, ...] = ()
    groups: int = 1
    output_padding: tuple[int, ...] = ()      # conv_transpose: extra rows after the data
    transposed_size: tuple[int, ...] = ()     # conv_transpose: y's spatial sizes, if given
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def kind(self) -> str:
        """``conv``, ``depthwise`` or ``conv_transpose`` (:mod:`harness.case.ops`)."""
        return ops.get(self.op).kind

    @property
    def rank(self) -> int:
        return ops.get(self.op).rank

    @property
    def canonical_input_shape(self) -> tuple[int, ...]:
        """``(N, C, *spatial)`` of ``x``."""
        return layouts.shape_in(self.input_shape, self.data_format,
                                layouts.canonical_data(self.rank))

    @property
    def canonical_filter_shape(self) -> tuple[int, ...]:
        """The forward conv's filter ``(O, I / groups, *kernel)``; a depthwise ``HWCM``
        filter is the grouped conv's ``(C * M, 1, *kernel)``, output channel ``c * M + m``."""
        if self.kind == "depthwise":
            c, m, *kernel = layouts.shape_in(self.filter_shape, self.filter_format,
                                             layouts.depthwise_canonical(self.rank))
            return (c * m, 1, *kernel)
        return layouts.shape_in(self.filter_shape, self.filter_format,
                                layouts.canonical_filter(self.rank))

    @property
    def conv_groups(self) -> int:
        """The groups of the convolution the oracle computes (depthwise: one per channel)."""
        if self.kind == "depthwise":
            return self.canonical_input_shape[1]
        return self.groups

    @cached_property
    def transposed_sizes(self) -> tuple[int, ...]:
        """conv_transpose: y's spatial sizes, the forward conv's input (``transposed_size``
        if given; else explicit pads: ``(in - 1) * s + (k - 1) * d + 1 - before - after +
        output_padding``; SAME: ``in * s``; VALID: ``in * s + max((k - 1) * d + 1 - s, 0)``,
        as TensorFlow, Keras and JAX compute them)."""
        if self.transposed_size:
            return self.transposed_size
        sizes = []
        spatial = self.canonical_input_shape[2:]
        kernel = self.canonical_filter_shape[2:]
        modes = ([self.padding] * self.rank if isinstance(self.padding, str)
                 else list(self.padding))
        extra = self.output_padding or (0,) * self.rank
        for n, k, s, d, mode, op in zip(spatial, kernel, self.strides, self.dilations, modes,
                                        extra):
            eff = pad.effective_kernel(k, d)
            if mode in ("SAME", "SAME_LOWER"):
                sizes.append(n * s + op)
            elif mode == "VALID":
                sizes.append(n * s + max(eff - s, 0) + op)
            else:
                sizes.append((n - 1) * s + eff - mode[0] - mode[1] + op)
        return tuple(sizes)

    @cached_property
    def axes(self) -> tuple[pad.AxisPadding, ...]:
        """Resolved padding per spatial axis (D, H, W order) of the forward conv, resolved
        once per case. For a conv_transpose that conv runs over y's spatial sizes."""
        sizes = (self.transposed_sizes if self.kind == "conv_transpose"
                 else self.canonical_input_shape[2:])
        return pad.resolve(self.padding, sizes, self.canonical_filter_shape[2:],
                           self.strides, self.dilations)

    @property
    def pads(self) -> list[tuple[int, int]]:
        return pad.pairs(self.axes)

    @property
    def canonical_output_shape(self) -> tuple[int, ...]:
        """``(N, C_y, *spatial)`` of ``y``."""
        n = self.canonical_input_shape[0]
        o, i = self.canonical_filter_shape[:2]
        if self.kind == "conv_transpose":
            return (n, i * self.groups, *self.transposed_sizes)
        return (n, o, *(a.output_size for a in self.axes))

    @property
    def forward_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(input, output) shapes, channels-first, of the forward conv the oracle computes:
        ``x`` and ``y``, or for a conv_transpose ``y`` and ``x``."""
        if self.kind == "conv_transpose":
            return self.canonical_output_shape, self.canonical_input_shape
        return self.canonical_input_shape, self.canonical_output_shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of ``y`` and ``dy``, laid out as ``data_format``."""
        return layouts.shape_in(self.canonical_output_shape,
                                layouts.canonical_data(self.rank), self.data_format)

    @property
    def padding_name(self) -> str:
        return self.padding if isinstance(self.padding, str) else "EXPLICIT"

    def layout_of(self, tensor: str) -> str:
        """Layout of ``x``/``dx``/``y``/``dy`` (``data_format``) or ``w``/``dw`` (``filter_format``);
        tangents and second-order grads as the tensor they are shaped as."""
        return self.filter_format if ops.base_tensor(tensor) == "w" else self.data_format

    def shape_of(self, tensor: str) -> tuple[int, ...]:
        """Shape of ``x``/``dx``, ``w``/``dw`` or ``y``/``dy`` in the case's layouts."""
        return {"x": self.input_shape, "w": self.filter_shape,
                "dy": self.output_shape}[ops.base_tensor(tensor)]
