"""A NumPy framework with script templates, so that ``convgrad repro``, ``shrink --script``
and ``fuzz`` write standalone scripts without TensorFlow, PyTorch or JAX.

Registered for one attempt at a time by the runner's launcher (``HOSTILE_TOYFW=1`` appends
one line to :data:`harness.backend.frameworks.FRAMEWORKS`, as issue 19 adds a
framework): adapter and template in this one module. ``toy.numpy`` is the toy of
tests/toy (correct); ``toybug.pad_before`` puts the odd pad of SAME before the data
instead of after (TensorFlow's SAME put on the wrong side), in its adapter and in its
template alike, so that its scripts reproduce its failures. Both compute ``y`` only.
"""
from __future__ import annotations

import inspect

import numpy as np

from harness.api import Outcome, each_grad, layouts
from harness.tools.repro.templates.code import Code, Request, block
from tests.toy import naive
from tests.toy.numpy_adapter import ToyNumpy
from tests.toy.numpy_template import INFO, toy


def _swapped(pads):
    return [(after, before) for before, after in pads]


class Toy(ToyNumpy):
    """tests/toy's impl, saying that it computes ``y`` only (so that a fuzzer's other grads
    are not its errors)."""
    grads = frozenset({"y"})
    grad_notes = {g: "the toy framework computes y only" for g in
                  ("dx", "dw", "jvp", "ddy", "ddx", "ddw")}


class ToyPadBefore(Toy):
    name = "toybug.pad_before"

    def compute(self, case, inputs, grads):
        first = layouts.data_formats(case.rank)[1]
        x = layouts.convert(inputs.x, case.data_format, first)
        w = layouts.convert(inputs.w, case.filter_format, layouts.filter_formats(case.rank)[1])

        def finish(grad, out):
            return Outcome(values=layouts.convert(out, first, case.data_format),
                           dtype="float64")
        thunks = {"y": lambda: naive.conv(x, w, case.strides, _swapped(case.pads),
                                          case.dilations)}
        return each_grad(grads, thunks, finish, "np.pad with the pads swapped", False)


def toybug(req: Request) -> Code:
    case = req.case
    if req.grad != "y":
        raise ValueError("the toy framework computes y only")
    first = layouts.data_formats(case.rank)[1]
    filt = layouts.filter_formats(case.rank)[1]
    x = layouts.convert(req.inputs.x, case.data_format, first)
    w = layouts.convert(req.inputs.w, case.filter_format, filt)
    compute = block(f'''
        def compute():
            return conv(X, W, {tuple(case.strides)!r}, {_swapped(case.pads)!r},
                        {tuple(case.dilations)!r})
    ''')
    return Code(framework="numpy", pip="numpy", calls="naive NumPy loops, pads swapped",
                imports="import itertools\n", output_layout=first, compute=compute,
                info=INFO, helpers=inspect.getsource(naive.conv),
                arrays=[("X", np.ascontiguousarray(x), f"x, laid out {first}"),
                        ("W", np.ascontiguousarray(w), f"w, laid out {filt}")])


IMPLS = [Toy(), ToyPadBefore()]
TEMPLATES = {"toy.numpy": toy, "toybug.pad_before": toybug}
