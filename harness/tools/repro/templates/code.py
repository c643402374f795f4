"""What a per-impl template gives the script writer: :class:`Code`, and :class:`Request`.

A template turns one impl's framework calls for one case and grad into Python
source: the environment its variant needs before the import, the arrays in
the layout the impl hands them over, the helper that hands them over (the
variant's memory format, dtype staging, device), ``compute()`` with the very
calls the adapter makes, the layout of its result, and ``framework_info()``
(versions and numerics flags). :mod:`harness.tools.repro.script` puts it together.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from harness.case.model import Case
from harness.case.values import Inputs


@dataclass(frozen=True)
class Request:
    """What to write a script for: one grad of one case, one impl (base name + settings)."""

    impl: str                        # base name, e.g. "torch.autograd"
    settings: Mapping[str, str]      # the variant's, e.g. {"memory": "nhwc_view"}
    case: Case
    inputs: Inputs
    grad: str

    def setting(self, key: str, default: str = "") -> str:
        return self.settings.get(key, default)


@dataclass
class Code:
    framework: str                   # the module to import ("tensorflow")
    pip: str                         # what to pip install ("tensorflow-cpu")
    calls: str                       # the framework calls, for the header
    imports: str                     # import lines (after the environment is set)
    output_layout: str               # layout of compute()'s result
    compute: str                     # def compute(): -> a NumPy array
    info: str                        # def framework_info(): -> [(label, value), ...]
    env: list[tuple[str, str, str]] = field(default_factory=list)   # (name, value, why)
    setup: str = ""                  # module-level code after the imports
    helpers: str = ""                # functions compute() uses
    arrays: list[tuple[str, np.ndarray, str]] = field(default_factory=list)  # NAME, values, note


def block(text: str) -> str:
    """Dedented source with one trailing newline."""
    return textwrap.dedent(text).strip("\n") + "\n"


def indent(text: str, prefix: str = "    ") -> str:
    return textwrap.indent(text, prefix)


def py(value) -> str:
    """A Python literal for strides, pads, shapes and names (tuples stay tuples)."""
    if isinstance(value, list):
        return "[" + ", ".join(py(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(py(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return repr(value)


def kwargs(**values) -> str:
    return ", ".join(f"{k}={py(v)}" for k, v in values.items())
