"""Planted bugs in real framework code: torch autograd with one porting mistake each.

Unlike :mod:`tests.planted` (the oracle with a mistake), these run the real
framework, so their mistakes surface the way a user's do: as wrong numbers, or
as the framework's own shape errors. Neither may ever read as ``unsupported``.
"""
from __future__ import annotations

import dataclasses

from harness.backend.adapters import torch_adapter
from harness.backend.adapters.torch_adapter import TorchAutograd


class SwappedStrides(TorchAutograd):
    """Strides handed over in the wrong axis order (W's stride for H and so on)."""
    name = "planted.torch_swapped_strides"

    def compute(self, case, inputs, grads):
        return super().compute(dataclasses.replace(case, strides=case.strides[::-1]),
                               inputs, grads)


class DilationOnOneAxis(TorchAutograd):
    """The dilation of the first spatial axis only; the others left at 1."""
    name = "planted.torch_dilation_one_axis"

    def compute(self, case, inputs, grads):
        dilations = case.dilations[:1] + (1,) * (case.rank - 1)
        return super().compute(dataclasses.replace(case, dilations=dilations), inputs, grads)


class PadAxesReversed(TorchAutograd):
    """Explicit pads handed to ``F.pad`` first axis first (``F.pad`` wants the last axis
    first): with unequal pads per axis, H gets W's pads and W gets H's."""
    name = "planted.torch_pad_axes_reversed"

    def padding(self, case):
        padding, emulated, recipe = super().padding(case)
        if emulated:
            return list(reversed(padding)), emulated, recipe
        return padding, emulated, recipe


BUGS = (SwappedStrides, DilationOnOneAxis, PadAxesReversed)
assert torch_adapter  # the module whose autograd path they share
