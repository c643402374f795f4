"""What a per-impl template gives the script writer: :class:`Code`, and :class:`Request`.

A template turns one impl's framework calls for one case and grad into Python
source: the environment its variant needs before the import, the arrays in
the layout the impl hands them over, the helper that hands them over (the
variant's memory format, dtype staging, device), ``compute()`` with the very
calls the adapter makes, the layout of its result, and ``framework_info()``
(versions and numerics flags). :mod:`harness.tools.repro.script` puts it together.

A forward-mode or second-order grad (``jvp``, ``ddy``, ``ddx``, ``ddw``) takes the case's
tangents ``tx``, ``tw`` or cotangents ``gx``, ``gw`` too (:func:`tangents`): the template
hands them over as the adapter does (as the tensor each goes with: :func:`arrays`).

A template that fills ``sources`` (where each array comes from: a tensor of the case,
transposed to a layout) lets the script regenerate seeded inputs instead of embedding
them; one whose ``compute(dtype=DTYPE)`` takes another dtype (``takes_dtype``) and that
gives ``versions()`` (one line of the facts that decide the numerics path) gets the
upstream-ready script for a value discrepancy (:mod:`harness.tools.repro.upstream`).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from harness.numerics import layouts
from harness.case import ops
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
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)  # NAME: (tensor, layout)
    takes_dtype: bool = False        # compute(dtype=DTYPE) computes in another dtype too
    versions: str = ""               # def versions(): -> one line (framework, numerics path)


# What each forward-mode or second-order grad is, for a script's header
# (harness.case.ops.SECOND_ORDER_TERMS; y = B(x, w), dx = dx(dy, w), dw = dw(x, dy)).
MEANING = {
    "jvp": "the forward-mode derivative of y along the tangents (tx, tw): "
           "y(tx, w) + y(x, tw)",
    "ddy": "the gradient of <dx, gx> + <dw, gw> with respect to dy: y(gx, w) + y(x, gw)",
    "ddx": "the gradient of <dx, gx> + <dw, gw> with respect to x: dx(dy, w := gw)",
    "ddw": "the gradient of <dx, gx> + <dw, gw> with respect to w: dw(x := gx, dy)",
}


def tangents(grad: str) -> tuple[str, ...]:
    """The tangents an autodiff framework's calls for ``grad`` take: ``(tx, tw)`` for
    ``jvp`` (forward mode), ``(gx, gw)`` for ``ddy``, ``ddx``, ``ddw`` (the cotangents of
    ``dx``, ``dw`` in double backward); none for a first-order grad."""
    if grad == "jvp":
        return ("tx", "tw")
    return ("gx", "gw") if grad in ops.SECOND_ORDER else ()


def identity_tangents(grad: str) -> tuple[str, ...]:
    """The tangents the bilinear identity of ``grad`` reads (``ddx = dx(dy, w := gw)``
    reads ``gw`` only): what an impl that writes the identities by hand takes."""
    needed = ops.tensors_needed(grad) if grad in ops.SECOND_ORDER else ()
    return tuple(t for t in tangents(grad) if t in needed)


def arrays(req: Request, specs) -> dict:
    """``Code`` fields ``arrays`` and ``sources`` of ``specs``, each ``(NAME, tensor, layout,
    note)``: the case's ``tensor`` laid out as ``layout`` (C order), and where it came from
    (a tangent the case leaves out is zeros, as the adapters take it: ``Inputs.get``)."""
    made = [(name, np.ascontiguousarray(layouts.convert(req.inputs.get(tensor),
                                                        req.case.layout_of(tensor), layout)),
             note or f"{tensor}, laid out {layout}") for name, tensor, layout, note in specs]
    return {"arrays": made,
            "sources": {name: (tensor, layout) for name, tensor, layout, _ in specs}}


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
