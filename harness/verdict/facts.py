"""The facts a verdict is matched on: its case's geometry and the path its impl took.

A documented limitation (``harness/data/limitations.yaml``) and a known
discrepancy (``harness/data/known-discrepancies.yaml``) say where they hold with
``when``: a mapping of fact -> value or list of values, every key of which must
hold. The platform facts (``onednn``, ``onednn_dtype``, ``cpu_class``,
``cpu_capability``, ``backend``) come from the probe of the process the impl
computed in (:mod:`harness.backend.platforms`), never from a variant's name, so an entry
for "TensorFlow's own bfloat16 kernel" matches wherever that kernel ran: on an
AVX2 runner by default, on an AVX-512 one with ``onednn=off``.
"""
from __future__ import annotations

import fnmatch
from typing import Any, Mapping, Optional

from harness.backend import platforms
from harness.safeio.yaml_source import Located, SourceError

FACTS = ("impl", "op", "kind", "rank", "grad", "dtype", "data_format", "filter_format",
         "channels_first", "padding", "strided", "dilated", "device", "emulated",
         "empty_output", "zero_batch", "zero_channels", "grouped") + platforms.VERDICT_FACTS


ON_OFF = ("onednn", "onednn_dtype")


def facts(case, impl_name: str, settings: Mapping[str, str], grad: str,
          emulated: bool = False, platform: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """What a limitation's or a known discrepancy's ``when`` may test, for one (case, impl,
    grad): the case's geometry and the path its impl took here (``platform``: the probe of
    the process it computed in, :mod:`harness.backend.platforms`)."""
    return {
        **platforms.verdict_facts(platform, case.dtype, settings),
        "impl": impl_name.split("[")[0], "op": case.op, "kind": case.kind, "rank": case.rank,
        "grad": grad,
        "dtype": case.dtype, "data_format": case.data_format,
        "filter_format": case.filter_format,
        "channels_first": case.data_format.index("C") == 1,
        "padding": case.padding_name, "strided": any(s > 1 for s in case.strides),
        "dilated": any(d > 1 for d in case.dilations),
        "device": settings.get("device", "cpu"),
        "emulated": bool(emulated),
        "empty_output": any(a.output_size == 0 for a in case.axes),
        "zero_batch": case.canonical_input_shape[0] == 0,
        "zero_channels": 0 in (case.canonical_input_shape[1], case.canonical_filter_shape[0]),
        "grouped": case.groups > 1,
    }


def when_matches(when: Mapping[str, tuple], facts_: Mapping[str, Any]) -> bool:
    """Every key of a ``when`` holds in ``facts_`` (``impl``: a glob)."""
    for key, allowed in when.items():
        value = facts_.get(key)
        if key == "impl":
            if not any(fnmatch.fnmatchcase(str(value), str(p)) for p in allowed):
                return False
        elif value not in allowed:
            return False
    return True


def parse_when(name: str, raw: Located, i: int) -> dict[str, tuple]:
    when = raw.get("when") or {}
    if not isinstance(when, dict):
        raise SourceError(name, raw.line_of("when"), f"entry {i}: 'when' must be a mapping")
    out = {}
    for key, value in when.items():
        if key not in FACTS:
            raise SourceError(name, when.line_of(key) if isinstance(when, Located) else raw.line,
                              f"entry {i}: when: unknown fact {key!r}; known: "
                              f"{', '.join(FACTS)}")
        values = tuple(value) if isinstance(value, list) else (value,)
        if key in ON_OFF:   # YAML 1.1 reads a bare on / off as a boolean
            values = tuple({True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v
                           for v in values)
            bad = [v for v in values if v not in ("on", "off")]
            if bad:
                raise SourceError(name, when.line_of(key) if isinstance(when, Located)
                                  else raw.line, f"entry {i}: when: {key} is on or off, got "
                                                 f"{bad[0]!r}")
        out[key] = values
    return out


