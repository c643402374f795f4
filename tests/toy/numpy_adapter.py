"""The toy framework's adapter: one impl, ``toy.numpy``, that computes ``y`` of plain
convolutions with :func:`tests.toy.naive.conv` (float64, rounded to the case dtype)."""
from __future__ import annotations

import numpy as np

from harness.api import Outcome, each_grad, layouts
from tests.toy import naive


class ToyNumpy:
    name = "toy.numpy"
    framework = "numpy"
    ops = frozenset({"conv1d", "conv2d", "conv3d"})

    def version(self) -> str:
        return np.__version__

    def compute(self, case, inputs, grads):
        first = layouts.data_formats(case.rank)[1]
        x = layouts.convert(inputs.x, case.data_format, first)
        w = layouts.convert(inputs.w, case.filter_format, layouts.filter_formats(case.rank)[1])

        def finish(grad, out):
            return Outcome(values=layouts.convert(out, first, case.data_format),
                           dtype="float64")
        thunks = {"y": lambda: naive.conv(x, w, case.strides, case.pads, case.dilations)}
        return each_grad(grads, thunks, finish, "np.pad with the case's pads", False)


IMPLS = [ToyNumpy()]
