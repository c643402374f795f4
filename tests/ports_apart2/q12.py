"""Keras Conv1D/2D/3D layers rebuilt as torch modules; the weights are swapped in
functionally so the Keras kernels (already transposed to torch's layout by the
loader) stay the single source of truth."""
import torch
from torch import nn

from harness.api import impl

_MODULES = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def build_layer(case, w):
    out_ch, in_per_group, *kernel = w.shape
    return _MODULES[case.rank](
        in_channels=in_per_group * case.groups, out_channels=out_ch,
        kernel_size=tuple(kernel), stride=tuple(case.strides),
        dilation=tuple(case.dilations), groups=case.groups, bias=False)


def layer_forward(x, w, case):
    layer = build_layer(case, w).to(dtype=x.dtype)
    return torch.func.functional_call(layer, {"weight": w}, (x,))


IMPLS = [impl(layer_forward, framework="torch", name="apart2.q12")]
