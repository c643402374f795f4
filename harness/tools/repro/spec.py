"""A case as plain, transformable data: :class:`CaseSpec`.

The shrinker and the fuzzer change cases one property at a time (drop a spatial
dimension, halve the channels, simplify the padding...). A :class:`~harness.case.model.Case`
is frozen and laid out in the case's own formats, so they work on a
:class:`CaseSpec` instead: the same convolution described channels-first
(``N, C, *spatial`` and ``O, I, *kernel``), with the values as generator specs
or as float64 arrays in that canonical layout; so are the tangents ``tx``, ``tw`` and
cotangents ``gx``, ``gw`` of forward-mode and second-order grads (shaped and laid out as
``x``, ``w``, ``x``, ``w``). :meth:`CaseSpec.to_raw` gives
the YAML mapping of ``docs/cases.md`` (laid out as the case's formats), and
:meth:`CaseSpec.to_case` validates it with the loader itself, so a
transformation can never produce a case that ``convgrad run`` would refuse.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np
import yaml

from harness.case import generators, ops
from harness.numerics import layouts, padding as pad
from harness.case.model import Case
from harness.case.loader import CaseError, parse_case
from harness.safeio import printable
from harness.safeio.yaml_source import Located

# The tensors whose values each grad uses (first order, forward mode, second order).
NEEDS = {grad: ops.tensors_needed(grad) for grad in ops.ALL_GRADS}
TENSORS = ops.TENSORS            # x, w, dy, tx, tw, gx, gw
BASE = ("x", "w", "dy")
Values = Union[None, dict, np.ndarray]   # a generator spec, canonical float64 values, or none


@dataclass(frozen=True)
class CaseSpec:
    id: str
    rank: int
    grads: tuple[str, ...]
    batch: int
    in_channels: int
    out_channels: int
    sizes: tuple[int, ...]          # spatial, D H W order
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    padding: Union[str, tuple[tuple[int, int], ...]]
    dtype: str = "float32"
    channels_last: bool = True      # NHWC (else NCHW)
    filter_spatial_first: bool = True   # HWIO (else OIHW)
    x: Values = None                # canonical (N, C, *sizes)
    w: Values = None                # canonical (O, I / groups, *kernel)
    dy: Values = None               # canonical (N, O, *out)
    tx: Values = None               # forward-mode tangents: canonical as x
    tw: Values = None               #                        as w
    gx: Values = None               # second-order cotangents: as x
    gw: Values = None               #                          as w
    description: str = ""
    source: str = ""
    groups: int = 1                 # grouped convolution (divides both channel counts)

    # ------------------------------------------------------------ derived
    @property
    def op(self) -> str:
        return f"conv{self.rank}d"

    @property
    def data_format(self) -> str:
        return layouts.data_formats(self.rank)[0 if self.channels_last else 1]

    @property
    def filter_format(self) -> str:
        return layouts.filter_formats(self.rank)[0 if self.filter_spatial_first else 1]

    @property
    def axes(self) -> tuple[pad.AxisPadding, ...]:
        return pad.resolve(self.padding, self.sizes, self.kernel, self.strides, self.dilations)

    @property
    def output_sizes(self) -> tuple[int, ...]:
        return tuple(a.output_size for a in self.axes)

    def canonical_shape(self, name: str) -> tuple[int, ...]:
        """The channels-first shape of ``x``, ``w``, ``dy`` or a tangent (as its tensor's)."""
        return {"x": (self.batch, self.in_channels, *self.sizes),
                "w": (self.out_channels, self.in_channels // self.groups, *self.kernel),
                "dy": (self.batch, self.out_channels, *self.output_sizes)}[ops.base_tensor(name)]

    def elements(self, name: str) -> int:
        return math.prod(self.canonical_shape(name))

    def needed(self) -> tuple[str, ...]:
        """The tensors whose values the case's grads use, in x, w, dy, tx, tw, gx, gw order."""
        return tuple(t for t in TENSORS if any(t in NEEDS[g] for g in self.grads))

    def present(self) -> tuple[str, ...]:
        """The tensors the case has: x, w, dy always (zeros where a grad does not use them),
        the tangents where it gives them."""
        return BASE + tuple(t for t in TENSORS[3:] if getattr(self, t) is not None)

    def replace(self, **changes) -> "CaseSpec":
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------ to YAML
    def layout(self, name: str) -> str:
        """The case's layout of a tensor (a tangent: its tensor's)."""
        return self.filter_format if ops.base_tensor(name) == "w" else self.data_format

    def canonical_layout(self, name: str) -> str:
        """The channels-first layout of a tensor (a tangent: its tensor's)."""
        return (layouts.canonical_filter(self.rank) if ops.base_tensor(name) == "w"
                else layouts.canonical_data(self.rank))

    def to_raw(self) -> dict:
        """The case as the plain mapping of ``docs/cases.md`` (what YAML holds)."""
        raw: dict[str, Any] = {"id": self.id}
        if self.description:
            raw["description"] = self.description
        if self.source:
            raw["source"] = self.source
        raw.update(op=self.op, grads=list(self.grads), data_format=self.data_format,
                   filter_format=self.filter_format,
                   padding=(self.padding if isinstance(self.padding, str)
                            else [list(p) for p in self.padding]),
                   strides=list(self.strides), dilations=list(self.dilations),
                   dtype=self.dtype, **({"groups": self.groups} if self.groups != 1 else {}),
                   input_shape=list(layouts.shape_in(self.canonical_shape("x"),
                                                     self.canonical_layout("x"),
                                                     self.data_format)),
                   filter_shape=list(layouts.shape_in(self.canonical_shape("w"),
                                                      self.canonical_layout("w"),
                                                      self.filter_format)))
        for name in TENSORS:
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                raw[name] = layouts.convert(value, self.canonical_layout(name),
                                            self.layout(name)).tolist()
            elif value is not None:
                raw[name] = dict(value)
        return raw

    def to_case(self, path: str = "<generated>") -> Case:
        """The validated :class:`Case` (:class:`CaseError` if the loader refuses it)."""
        return parse_case(path, _located(self.to_raw()))

    def try_case(self, path: str = "<generated>") -> Optional[Case]:
        """:meth:`to_case`, or None when the loader refuses the case (or its shapes are
        impossible: an empty output, say)."""
        if min(self.sizes + self.kernel, default=1) < 1 or min(self.output_sizes) < 1:
            return None
        try:
            return self.to_case(path)
        except CaseError:
            return None

    def yaml_text(self, header: str = "") -> str:
        return dump_yaml(self.to_raw(), header)

    def summary(self) -> str:
        """One line: ``conv2d float32 NHWC x[1,5,5,3] w[3,3,3,2] s[2,2] d[1,1] SAME``."""
        raw = self.to_raw()
        pads = self.padding if isinstance(self.padding, str) else raw["padding"]
        text = (f"{self.op} {self.dtype} {self.data_format}/{self.filter_format} "
                f"x{raw['input_shape']} w{raw['filter_shape']} s{list(self.strides)} "
                f"d{list(self.dilations)} padding={pads}")
        return text.replace(", ", ",")


def from_case(case: Case) -> CaseSpec:
    """A case as a :class:`CaseSpec`: explicit values become canonical arrays, generator
    specs keep their form with the seed written out (so that a new id keeps the values)."""
    if case.kind != "conv":
        raise ValueError(f"{case.id}: shrinking and fuzzing handle (grouped) convolutions; "
                         f"{case.op} is not one yet")
    rank = case.rank
    n, c, *sizes = case.canonical_input_shape
    o, i, *kernel = case.canonical_filter_shape
    values = {}
    for name in TENSORS:
        spec = getattr(case, name)
        if isinstance(spec, dict):
            spec = dict(spec)
            if "random" in spec and "seed" not in spec:
                spec["seed"] = generators.default_seed(case.id, name)
            values[name] = spec
        elif spec is not None:
            layout = case.layout_of(name)
            canonical = (layouts.canonical_filter(rank) if ops.base_tensor(name) == "w"
                         else layouts.canonical_data(rank))
            values[name] = np.ascontiguousarray(
                layouts.convert(np.asarray(spec, dtype=np.float64), layout, canonical))
        else:
            values[name] = None
    return CaseSpec(
        id=case.id, rank=rank, grads=tuple(case.grads), batch=n, in_channels=c,
        out_channels=o, sizes=tuple(sizes), kernel=tuple(kernel), strides=tuple(case.strides),
        dilations=tuple(case.dilations),
        padding=case.padding if isinstance(case.padding, str) else
        tuple(tuple(p) for p in case.padding),
        dtype=case.dtype, channels_last=case.data_format == layouts.data_formats(rank)[0],
        filter_spatial_first=case.filter_format == layouts.filter_formats(rank)[0],
        description=case.description, source=case.source, groups=case.groups, **values)


def only_grad(spec: CaseSpec, grad: str) -> CaseSpec:
    """The case computing ``grad`` only, without the values it does not use (tangents
    included: ``ddx`` keeps ``gw`` and ``dy``)."""
    if grad not in NEEDS:
        raise ValueError(f"{grad!r} is not one of {', '.join(NEEDS)}")
    keep = set(NEEDS[grad])
    return spec.replace(grads=(grad,), **{t: (getattr(spec, t) if t in keep else None)
                                         for t in TENSORS})


def _located(value: Any) -> Any:
    """Plain data as the loader's :class:`Located` mappings (no line numbers)."""
    if isinstance(value, dict):
        out = Located({k: _located(v) for k, v in value.items()})
        out.line = 1
        return out
    if isinstance(value, (list, tuple)):
        return [_located(v) for v in value]
    return value


class _Dumper(yaml.SafeDumper):
    """Block style for the case's keys, flow style for every list and generator."""


def _flow_list(dumper, data):
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _mapping(dumper, data):
    flow = "random" in data or "range" in data or "constant" in data
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_Dumper.add_representer(list, _flow_list)
_Dumper.add_representer(tuple, _flow_list)
_Dumper.add_representer(dict, _mapping)


def dump_yaml(raw: Any, header: str = "") -> str:
    """Case data as YAML the loader reads back exactly (floats are written with ``repr``;
    strings the emitter quotes and escapes as YAML needs), under ``header`` as ``#``
    comments: each of its lines escaped by :func:`harness.safeio.printable.comment` (a
    framework's message may hold ESC, NUL or a line break YAML would refuse or obey)."""
    text = yaml.dump(raw, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    comment = "".join(f"# {printable.comment(line, 1000)}".rstrip() + "\n"
                      for line in header.split("\n") if header)
    return comment + text
