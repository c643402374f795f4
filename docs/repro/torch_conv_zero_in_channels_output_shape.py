"""Standalone reproduction: PyTorch's convolution with ZERO input channels
returns an output with zero output channels, (N, 0, ...), instead of zeros of
shape (N, C_out, ...): y = sum over no input channels = 0 for each of the C_out
output channels. Autograd then refuses a dy of the right shape.

PyTorch chose this when it began accepting 0-channel inputs
(https://github.com/pytorch/pytorch/pull/66256); empty-channel support in
convolution is still the open issue https://github.com/pytorch/pytorch/issues/56998.
torch.nn.grad.conv2d_input / conv2d_weight give the right (empty) dx and dw.

    python3 torch_conv_zero_in_channels_output_shape.py    # exit 1: reproduced

Shapes of the convgrad case degenerate/channels/in-0 (cases/degenerate/degenerate.yaml).
"""
import sys

import numpy as np
import torch

print("torch", torch.__version__, "numpy", np.__version__)
x = torch.randn(1, 0, 4, 4, requires_grad=True)      # N=1, C_in=0, 4x4
w = torch.randn(3, 0, 3, 3, requires_grad=True)      # C_out=3, C_in=0, 3x3
wrong = 0

y = torch.nn.functional.conv2d(x, w)
ok = tuple(y.shape) == (1, 3, 2, 2)
wrong += not ok
print(f"{'ok   ' if ok else 'WRONG'} y shape {tuple(y.shape)}, expected (1, 3, 2, 2) (zeros)")

dy = torch.randn(1, 3, 2, 2)
try:
    dx, dw = torch.autograd.grad(y, (x, w), dy)
    print(f"ok    autograd dx {tuple(dx.shape)}, dw {tuple(dw.shape)}")
except RuntimeError as exc:
    wrong += 1
    print("WRONG autograd with dy (1, 3, 2, 2) raises RuntimeError:", str(exc).splitlines()[0])

dx = torch.nn.grad.conv2d_input((1, 0, 4, 4), w.detach(), dy)
dw = torch.nn.grad.conv2d_weight(x.detach(), (3, 0, 3, 3), dy)
print(f"(for comparison) torch.nn.grad: dx {tuple(dx.shape)}, dw {tuple(dw.shape)}")

print("bug reproduced" if wrong else "not reproduced")
sys.exit(1 if wrong else 0)
