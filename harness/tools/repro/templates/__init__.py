"""One script template per built-in impl: the framework calls its adapter makes (each
framework's template module, named in :mod:`harness.backend.frameworks`).

:func:`template` finds the template of an impl's base name; each returns a
:class:`~harness.tools.repro.templates.code.Code` that :mod:`harness.tools.repro.script`
assembles into a standalone script. A plug-in impl has no template (convgrad
cannot know its calls): ``convgrad repro`` says so; so does it for an op the templates do
not write yet (:func:`check_op`: they write plain and grouped convolutions, every grad).
"""
from __future__ import annotations

import importlib
from typing import Callable

from harness.backend import frameworks
from harness.tools.repro.templates.code import Code, Request


def templates() -> dict[str, Callable[[Request], Code]]:
    """impl name -> its script template, from each framework's template module."""
    found: dict[str, Callable[[Request], Code]] = {}
    for module in frameworks.template_modules():
        found.update(importlib.import_module(module).TEMPLATES)
    return found


class NoTemplate(LookupError):
    pass


def check_op(case) -> None:
    """:class:`NoTemplate` unless the templates write the calls of ``case``'s op: plain and
    grouped convolutions (``conv1d``, ``conv2d``, ``conv3d``). Depthwise and transposed
    convolutions take other framework calls, filter layouts and padding recipes that no
    template writes yet: better no script than one of other calls than the adapter's."""
    if case.kind != "conv":
        raise NoTemplate(f"no script template for {case.op} yet: standalone scripts exist for "
                         "plain and grouped convolutions (conv1d, conv2d, conv3d); 'convgrad "
                         f"run -k {case.id}' judges it again")


def template(base: str) -> Callable[[Request], Code]:
    known = templates()
    try:
        return known[base]
    except KeyError:
        raise NoTemplate(f"no script template for impl {base!r}: standalone scripts exist for "
                         f"the built-in impls ({', '.join(known)}); for your own impl, "
                         "'convgrad shrink --impl-module ...' finds the smallest failing case "
                         "and 'convgrad run --impl-module ... -k ID' judges it again") from None
