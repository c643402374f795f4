"""Upstream second-order bugs planted in real framework code (issue 21): the built-in
torch and JAX impls with the one thing each upstream bug got wrong, so the mistake
surfaces as it did for users (wrong values, or the framework's own shape error).
tests/planted_second_order.py has the same bugs in NumPy.

* pytorch#80766: conv double backward passed ``transposed=False`` for a transposed conv:
  torch.autograd's double backward of a conv_transpose computed as the forward conv's
  (wrong values where the shapes agree: as many in as out channels, stride 1, SAME; a
  shape error elsewhere);
* pytorch#51430: ``torch.nn.grad.conv*_weight`` with groups > 1 read the first group's
  input channels for every group: torch.nn_grad's dw and ddw;
* pytorch#75219 / #81111: forward-over-reverse of a grouped conv took the tangent's
  groups in the wrong order: torch.autograd[second=fwd_over_rev]'s ddx and ddw;
* jax#563: the second-order rule of a transposed conv dropped the rhs dilation:
  jax.vjp's double backward of a dilated conv_transpose.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from harness.backend.adapters.jax_adapter import JaxVjp
from harness.backend.adapters.torch_adapter import TorchAutograd, TorchNnGrad

DOUBLE_BACKWARD = ("ddy", "ddx", "ddw")


def _groups_of(a: np.ndarray, axis: int, groups: int, reverse: bool) -> np.ndarray:
    """``a``'s channel groups along ``axis`` reversed, or every group the first one."""
    parts = np.split(a, groups, axis=axis)
    return np.concatenate(parts[::-1] if reverse else [parts[0]] * groups, axis=axis)


def _split(impl_compute, case, inputs, grads, buggy, changed_inputs):
    """The grads in ``buggy`` computed from ``changed_inputs``, the rest from ``inputs``."""
    out = {}
    plain = [g for g in grads if g not in buggy]
    wrong = [g for g in grads if g in buggy]
    if plain:
        out.update(impl_compute(case, inputs, plain))
    if wrong:
        out.update(impl_compute(case, changed_inputs, wrong))
    return out


class TorchWeightGroups(TorchNnGrad):
    name, bug = "planted.torch_weight_groups", "pytorch#51430"

    def compute(self, case, inputs, grads):
        if case.conv_groups == 1 or case.kind == "conv_transpose":
            return super().compute(case, inputs, grads)
        axis, g = case.data_format.index("C"), case.conv_groups
        changed = dataclasses.replace(inputs, x=_groups_of(inputs.x, axis, g, False),
                                      gx=_groups_of(inputs.gx, axis, g, False)
                                      if inputs.gx is not None else None)
        return _split(super().compute, case, inputs, grads, ("dw", "ddw"), changed)


class TorchFwdOverRevGroups(TorchAutograd):
    name, bug = "planted.torch_fwd_over_rev_groups", "pytorch#75219"

    def __init__(self):
        super().__init__()
        self.settings = {"second": "fwd_over_rev"}

    def compute(self, case, inputs, grads):
        if case.conv_groups == 1 or case.kind == "conv_transpose" or inputs.gx is None:
            return super().compute(case, inputs, grads)
        g = case.conv_groups
        # the filter's groups: along O, or a depthwise HWCM filter's C (a group a channel)
        o_axis = case.filter_format.index("O" if case.kind == "conv" else "C")
        out = {}
        rest = [x for x in grads if x not in ("ddx", "ddw")]
        if rest:
            out.update(super().compute(case, inputs, rest))
        if "ddx" in grads:
            changed = dataclasses.replace(inputs, gw=_groups_of(inputs.gw, o_axis, g, True))
            out.update(super().compute(case, changed, ["ddx"]))
        if "ddw" in grads:
            axis = case.data_format.index("C")
            changed = dataclasses.replace(inputs, gx=_groups_of(inputs.gx, axis, g, True))
            out.update(super().compute(case, changed, ["ddw"]))
        return out


class TorchTransposedFlag(TorchAutograd):
    name, bug = "planted.torch_transposed_flag", "pytorch#80766"

    def compute(self, case, inputs, grads):
        if case.kind != "conv_transpose":
            return super().compute(case, inputs, grads)
        forward = dataclasses.replace(case, op=f"conv{case.rank}d")   # transposed=False
        return _split(lambda c, i, gs: super(TorchTransposedFlag, self).compute(
            forward if gs[0] in DOUBLE_BACKWARD else c, i, gs),
            case, inputs, grads, DOUBLE_BACKWARD, inputs)


class JaxTransposedDilation(JaxVjp):
    name, bug = "planted.jax_transposed_dilation", "jax#563"

    def compute(self, case, inputs, grads):
        if case.kind != "conv_transpose" or set(case.dilations) == {1}:
            return super().compute(case, inputs, grads)
        undilated = dataclasses.replace(case, dilations=(1,) * case.rank)
        return _split(lambda c, i, gs: super(JaxTransposedDilation, self).compute(
            undilated if gs[0] in DOUBLE_BACKWARD else c, i, gs),
            case, inputs, grads, DOUBLE_BACKWARD, inputs)


BUGS = (TorchTransposedFlag, TorchWeightGroups, TorchFwdOverRevGroups, JaxTransposedDilation)
