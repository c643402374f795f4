"""Planted second-order bugs (issue 21): NumPy impls of forward mode and double backward,
each reproducing the maths of one upstream bug, built from the oracle's first-order
functions with that one thing wrong and rounded to the case dtype as autodiff rounds
(each term, then the sum). ``Correct`` makes no mistake and must pass everything.

* pytorch#80766: conv double backward passed ``transposed=False`` for transposed convs:
  the double-backward grads of a conv_transpose are computed with the forward conv;
* pytorch#51430: ``torch.nn.grad.conv*_weight`` wrong with groups > 1 (each group's
  filter gradient read the first group's input channels): dw and ddw;
* pytorch#75219 / #81111: forward-over-reverse of grouped convs: the tangent's groups
  taken in the wrong order, in ddx and ddw only;
* jax#563: the second-order rule of a transposed conv dropped the rhs dilation;
* tensorflow#53793: ``ForwardAccumulator`` did not support Conv2D: jvp raises (an error,
  not a documented limitation).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from harness.backend.adapters.base import Outcome, failed
from harness.case import ops as op_registry
from harness.numerics import dtypes, oracle

DOUBLE_BACKWARD = ("ddy", "ddx", "ddw")


class Correct:
    framework = "numpy"
    name = "planted2.correct"
    ops = frozenset(op_registry.OPS)
    grads = op_registry.ALL_GRADS
    bug = ""

    def version(self) -> str:
        return np.__version__

    def evaluate(self, case, base: str, x, w, dy, which: str) -> np.ndarray:
        """One first-order function (``base``) as ``which`` (the grad being computed) uses it."""
        return op_registry.evaluate(case, base, x, w, dy)

    def compute(self, case, inputs, grads):
        t = {n: op_registry.to_canonical(case, n, inputs.get(n)) for n in op_registry.TENSORS}
        out = {}
        for g in grads:
            try:
                if g in op_registry.GRADS:
                    value = self.evaluate(case, g, t["x"], t["w"], t["dy"], g)
                else:
                    value = 0.0
                    for base, swap in op_registry.SECOND_ORDER_TERMS[g]:
                        a = {k: t[swap.get(k, k)] for k in ("x", "w", "dy")}
                        term = self.evaluate(case, base, a["x"], a["w"], a["dy"], g)
                        value = value + dtypes.round_to(term, case.dtype)
                out[g] = Outcome(values=op_registry.from_canonical(case, g, dtypes.round_to(
                    np.asarray(value, dtype=np.float64), case.dtype)), dtype=case.dtype,
                    padding="planted")
            except (ValueError, NotImplementedError) as exc:
                out[g] = failed([g], exc)[g]
        return out


class TransposedFlagDropped(Correct):
    name, bug = "planted2.transposed_flag", "pytorch#80766"

    def evaluate(self, case, base, x, w, dy, which):
        if case.kind != "conv_transpose" or which not in DOUBLE_BACKWARD:
            return super().evaluate(case, base, x, w, dy, which)
        geometry = dict(strides=case.strides, pads=case.pads, dilations=case.dilations,
                        groups=case.conv_groups)
        if base == "y":       # the forward conv where the transposed one was meant
            return oracle.conv(x, w, **geometry)
        if base == "dx":
            return oracle.conv_dx(dy, w, input_shape=x.shape, **geometry)
        return oracle.conv_dw(x, dy, filter_shape=w.shape, **geometry)


class WeightGradGroups(Correct):
    name, bug = "planted2.weight_groups", "pytorch#51430"

    def evaluate(self, case, base, x, w, dy, which):
        groups = case.conv_groups
        if base != "dw" or groups == 1 or case.kind == "conv_transpose":
            return super().evaluate(case, base, x, w, dy, which)
        per = x.shape[1] // groups     # every group reads the first group's channels
        return super().evaluate(case, base, np.concatenate([x[:, :per]] * groups, axis=1),
                                w, dy, which)


class FwdOverRevGroups(Correct):
    name, bug = "planted2.fwd_over_rev_groups", "pytorch#75219"

    def evaluate(self, case, base, x, w, dy, which):
        groups = case.conv_groups
        if which not in ("ddx", "ddw") or groups == 1 or case.kind == "conv_transpose":
            return super().evaluate(case, base, x, w, dy, which)
        if which == "ddx":      # the tangent gw's groups in reverse order
            w = np.concatenate(np.split(w, groups, axis=0)[::-1], axis=0)
        else:                   # the tangent gx's groups in reverse order
            x = np.concatenate(np.split(x, groups, axis=1)[::-1], axis=1)
        return super().evaluate(case, base, x, w, dy, which)


class TransposedDilationDropped(Correct):
    name, bug = "planted2.transposed_dilation", "jax#563"

    def evaluate(self, case, base, x, w, dy, which):
        if case.kind != "conv_transpose" or which not in DOUBLE_BACKWARD or \
                set(case.dilations) == {1}:
            return super().evaluate(case, base, x, w, dy, which)
        return op_registry.evaluate(case, base, x, w, dy, dilations=(1,) * case.rank)


class NoForwardMode(Correct):
    name, bug = "planted2.no_forward_mode", "tensorflow#53793"

    def evaluate(self, case, base, x, w, dy, which):
        if which == "jvp" and case.op == "conv2d":
            raise NotImplementedError("No JVP defined for op Conv2D (ForwardAccumulator)")
        return super().evaluate(case, base, x, w, dy, which)


BUGS = (TransposedFlagDropped, WeightGradGroups, FwdOverRevGroups, TransposedDilationDropped,
        NoForwardMode)
