"""One script template per built-in impl: the framework calls its adapter makes.

:func:`template` finds the template of an impl's base name; each returns a
:class:`~harness.tools.repro.templates.code.Code` that :mod:`harness.tools.repro.script`
assembles into a standalone script. A plug-in impl has no template (convgrad
cannot know its calls): ``convgrad repro`` says so.
"""
from __future__ import annotations

from typing import Callable

from harness.tools.repro.templates import jax_template, tf_template, torch_template
from harness.tools.repro.templates.code import Code, Request

TEMPLATES: dict[str, Callable[[Request], Code]] = {
    "tf.backprop": tf_template.backprop,
    "tf.tape": tf_template.tape,
    "torch.nn_grad": torch_template.nn_grad,
    "torch.autograd": torch_template.autograd,
    "jax.vjp": jax_template.vjp,
}


class NoTemplate(LookupError):
    pass


def template(base: str) -> Callable[[Request], Code]:
    try:
        return TEMPLATES[base]
    except KeyError:
        raise NoTemplate(f"no script template for impl {base!r}: standalone scripts exist for "
                         f"the built-in impls ({', '.join(TEMPLATES)})") from None
