"""The JSON Schema of case files, for editors (completion and checks while typing).

``harness/data/case.schema.json`` is generated from the registry (ops, dtypes,
padding modes, layouts, generators) by :func:`schema`; a test keeps the shipped
file equal to it. Point an editor at it, e.g. with the YAML language server::

    # yaml-language-server: $schema=../../harness/data/case.schema.json

The loader stays the judge: it checks what a schema cannot (shapes that fit,
ids that are unique, the geometry) and names file, line, case and field.
Regenerate: ``python -m harness.case.schema > harness/data/case.schema.json``.
"""
from __future__ import annotations

import json

from harness.numerics import dtypes, layouts, padding
from harness.case import generators, ops

INT = {"type": "integer", "minimum": 0}
POSITIVE = {"type": "integer", "minimum": 1}


def _ints(item: dict) -> dict:
    return {"oneOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": 3}]}


def _values() -> dict:
    generator = {
        "oneOf": [
            {"type": "object", "required": ["random"], "additionalProperties": False,
             "properties": {"random": {"enum": list(generators.PARAMS)},
                            "seed": INT, "scale": {"type": "number"},
                            "low": {"type": "number"}, "high": {"type": "number"}}},
            {"type": "object", "required": ["range"], "additionalProperties": False,
             "properties": {"range": {"oneOf": [{"type": "integer"}, {
                 "type": "array", "items": {"type": "integer"}, "minItems": 2,
                 "maxItems": 2}]}}},
            {"type": "object", "required": ["constant"], "additionalProperties": False,
             "properties": {"constant": {"type": "number"}}},
        ]}
    return {"oneOf": [{"type": "array", "description": "nested lists of numbers, laid out "
                       "as the case's data_format / filter_format"}, generator, {"type": "null"}]}


def _layouts(kind: str) -> list[str]:
    out = []
    for rank in (1, 2, 3):
        out += list(layouts.data_formats(rank)) if kind == "data" else []
        if kind == "filter":
            out += list(layouts.filter_layouts(rank))
            if rank < 3:
                out += list(layouts.filter_layouts(rank, "CM"))
    return sorted(set(out))


def _case() -> dict:
    pair = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
    claim = {"type": "object", "required": ["source"], "additionalProperties": False,
             "properties": {"source": {"type": "string", "minLength": 1},
                            "finding": {"type": "string"},
                            "decimals": {"type": "integer", "minimum": 0, "maximum": 30},
                            "rtol": {"type": "number", "minimum": 0},
                            "atol": {"type": "number", "minimum": 0},
                            **{g: {"type": "array"} for g in ops.ALL_GRADS}}}
    return {
        "type": "object", "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": r"^\S+$", "maxLength": 200},
            "description": {"type": "string"}, "source": {"type": "string"},
            "op": {"enum": list(ops.OPS)},
            "grads": {"oneOf": [{"enum": list(ops.ALL_GRADS)}, {
                "type": "array", "items": {"enum": list(ops.ALL_GRADS)}, "minItems": 1,
                "uniqueItems": True}]},
            "data_format": {"enum": _layouts("data")},
            "filter_format": {"enum": _layouts("filter")},
            "padding": {"oneOf": [{"enum": [*padding.MODES, "SAME_UPPER"]},
                                  {"type": "array", "items": pair, "minItems": 1,
                                   "maxItems": 3}]},
            "strides": _ints(POSITIVE), "dilations": _ints(POSITIVE),
            "dtype": {"enum": list(dtypes.NAMES)},
            "input_shape": {"type": "array", "items": INT, "minItems": 3, "maxItems": 5},
            "filter_shape": {"type": "array", "items": INT, "minItems": 3, "maxItems": 5},
            "output_shape": {"type": "array", "items": INT, "minItems": 3, "maxItems": 5},
            "input_size": {"type": "array", "items": POSITIVE, "minItems": 1, "maxItems": 3},
            "kernel_size": {"type": "array", "items": POSITIVE, "minItems": 1, "maxItems": 3},
            "batch": INT, "in_channels": INT, "out_channels": INT, "groups": POSITIVE,
            "channel_multiplier": POSITIVE,
            "output_padding": {"type": "array", "items": INT, "minItems": 1, "maxItems": 3},
            **{t: _values() for t in ops.TENSORS},
            "claims": {"type": "array", "items": claim},
        },
    }


def schema() -> dict:
    case = _case()
    matrix = {"type": "object", "required": ["matrix"], "additionalProperties": False,
              "properties": {"matrix": {
                  "type": "object", "required": ["id", "product"], "additionalProperties": False,
                  "properties": {"id": {"type": "string"},
                                 "base": {"type": "object", "description": "case keys "
                                          "shared by every derived case (no id)"},
                                 "product": {"type": "object", "minProperties": 1,
                                             "additionalProperties": {"type": "array",
                                                                      "minItems": 1}}}}}}
    entry = {"oneOf": [{**case, "required": ["id", "op"]}, matrix]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://convgrad.invalid/case.schema.json",
        "title": "convgrad case file",
        "description": "One case, a list of cases, or a matrix (docs/cases.md). Generated "
                       "by harness/case/schema.py; the loader checks the rest.",
        "oneOf": [entry, {"type": "array", "items": entry, "minItems": 1}],
    }


def text() -> str:
    return json.dumps(schema(), indent=1) + "\n"


if __name__ == "__main__":
    print(text(), end="")
