"""How case-file values are told apart and spelled back in error messages.

Shared by the loader and the generators: type predicates that keep booleans
out of numbers, and YAML-like spellings (``true``, ``null``, ``[1, 2]``) cut to
a readable length, so a message quotes what the user wrote.
"""
from __future__ import annotations

import datetime
import math
import re
import sys
from typing import Any

from harness.safeio.yaml_source import Located, LocatedList


def key_text(key: str) -> str:
    """A key as it reads in a field name: bare when it is a plain word, else quoted."""
    return key if re.fullmatch(r"[\w-]+", key) else repr(key)


def type_name(value: object) -> str:
    if isinstance(value, datetime.date):
        return "a date (quote it to make it a string)"
    return {Located: "a mapping", LocatedList: "a list", bool: "a boolean", str: "a string",
            int: "an integer", float: "a number", type(None): "nothing"}.get(
                type(value), type(value).__name__)


def show(value: object, limit: int = 60) -> str:
    """``value`` spelled as in YAML (``true``, ``null``, ``[1, 2]``), cut to ``limit``."""
    text = yaml_text(value, limit)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def yaml_text(value: object, limit: int) -> str:
    if isinstance(value, (list, dict, tuple)):
        items = value.items() if isinstance(value, dict) else value
        parts, length = [], 0
        for item in items:
            parts.append(f"{key_text(str(item[0]))}: {yaml_text(item[1], limit)}"
                         if isinstance(value, dict)
                         else yaml_text(item, limit))
            length += len(parts[-1]) + 2
            if length > limit:
                break
        text = ", ".join(parts)
        return f"{{{text}}}" if isinstance(value, dict) else f"[{text}]"
    return scalar_text(value)


def scalar_text(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    if isinstance(value, int) and is_huge(value):
        return f"{'-' if value < 0 else ''}<an integer of {value.bit_length()} bits>"
    return repr(value) if isinstance(value, str) else str(value)


def is_huge(value: object) -> bool:
    """An integer too long to print (Python refuses int -> str beyond 4300 digits)."""
    return isinstance(value, int) and abs(value).bit_length() > 4000


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_float64(value: object) -> bool:
    """A number float64 holds (inf and nan included, integers beyond its range not)."""
    return is_number(value) and (isinstance(value, float) or abs(value) <= sys.float_info.max)


def is_finite(value: object) -> bool:
    return is_float64(value) and math.isfinite(value)


def compact(value: Any) -> str:
    if isinstance(value, list):
        return "x".join(compact(e) for e in value)
    return value if isinstance(value, str) else show(value)
