"""Planted bugs of the newer ops (grouped, depthwise, transposed), NumPy only.

``OpsPlanted`` computes every op through the oracle the way the harness does
(:func:`harness.case.ops.evaluate`), with hooks a bug overrides; each subclass makes
one mistake that porting code makes.
"""
from __future__ import annotations

import numpy as np

from harness.numerics import dtypes, layouts
from harness.case import ops
from harness.backend.adapters.base import Outcome, failed


class OpsPlanted:
    framework = "numpy"
    name = "planted.ops_correct"
    ops = frozenset(ops.OPS)

    def version(self) -> str:
        return np.__version__

    # Hooks: the defaults are right.
    def pads(self, case):
        return case.pads

    def inputs(self, case, grad, x, w, dy):
        return x, w, dy

    def filter_to_canonical(self, case, a):
        return ops.to_canonical(case, "w", a)

    def filter_from_canonical(self, case, a):
        return ops.from_canonical(case, "dw", a)

    def compute(self, case, inputs, grads):
        try:
            x = ops.to_canonical(case, "x", inputs.x)
            dy = ops.to_canonical(case, "dy", inputs.dy)
            w = self.filter_to_canonical(case, inputs.w)
            out = {}
            for g in grads:
                value = ops.evaluate(case, g, *self.inputs(case, g, x, w, dy),
                                     pads=self.pads(case))
                value = dtypes.round_to(value, case.dtype)
                back = (self.filter_from_canonical(case, value) if g == "dw"
                        else ops.from_canonical(case, g, value))
                out[g] = Outcome(values=back, dtype=case.dtype, padding="planted")
            return out
        except ValueError as exc:   # shapes a bug made inconsistent
            return failed(grads, exc)


class TransposedSameSwapped(OpsPlanted):
    """A transposed conv whose SAME / SAME_LOWER are swapped (onnxruntime before 1.13):
    the odd pad of the forward conv on the wrong side."""
    name = "planted.transpose_same_swapped"

    def pads(self, case):
        if case.kind == "conv_transpose" and case.padding in ("SAME", "SAME_LOWER"):
            return [(after, before) for before, after in case.pads]
        return case.pads


class GroupsIgnoredInDw(OpsPlanted):
    """dw of every group computed from the first group's input channels (the groups'
    split forgotten in the filter gradient)."""
    name = "planted.groups_ignored_in_dw"

    def inputs(self, case, grad, x, w, dy):
        groups = case.conv_groups
        if grad != "dw" or groups == 1:
            return x, w, dy
        # the forward conv's input is x, or for a transposed conv dy (ops.evaluate)
        index = 2 if case.kind == "conv_transpose" else 0
        tensors = [x, w, dy]
        a = tensors[index]
        per = a.shape[1] // groups
        tensors[index] = np.concatenate([a[:, :per]] * groups, axis=1)
        return tuple(tensors)


class DepthwiseMultiplierOrder(OpsPlanted):
    """A depthwise filter flattened with output channel ``m * C + c`` instead of
    TensorFlow's ``c * M + m`` (reshaping an (M, C) view, a classic port mistake)."""
    name = "planted.depthwise_multiplier_order"

    def filter_to_canonical(self, case, a):
        if case.kind != "depthwise":
            return super().filter_to_canonical(case, a)
        cm = layouts.convert(a, case.filter_format, layouts.depthwise_canonical(case.rank))
        c, m, *kernel = cm.shape
        return np.swapaxes(cm, 0, 1).reshape(c * m, 1, *kernel)

    def filter_from_canonical(self, case, a):
        if case.kind != "depthwise":
            return super().filter_from_canonical(case, a)
        c, m, *kernel = layouts.shape_in(case.filter_shape, case.filter_format,
                                         layouts.depthwise_canonical(case.rank))
        cm = np.swapaxes(a.reshape(m, c, *kernel), 0, 1)
        return layouts.convert(cm, layouts.depthwise_canonical(case.rank), case.filter_format)


BUGS = (TransposedSameSwapped, GroupsIgnoredInDw, DepthwiseMultiplierOrder)
