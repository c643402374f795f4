"""Standalone reproduction: torch CPU autograd of a float16 conv2d whose input
arrives as a permuted (channels-last) view and whose filter has ONE output
channel raises "slow_conv2d: grad_weight must be contiguous" for the filter
gradient. The same tensors handed over contiguously work.

Shapes of convgrad case regressions/torch-f16-nhwc-view-cout1.
Run:  python3 torch_f16_channels_last_view_grad_weight.py   (exit 1: reproduced)
"""
import sys

import numpy as np
import torch

print("torch", torch.__version__, "numpy", np.__version__)
rng = np.random.default_rng(0)
x_nhwc = rng.integers(-3, 4, (1, 5, 5, 3)).astype(np.float16)
w_hwio = rng.integers(-3, 4, (3, 3, 3, 1)).astype(np.float16)
dy_nhwc = rng.integers(-3, 4, (1, 5, 5, 1)).astype(np.float16)


def grad_weight(view: bool):
    if view:   # zero-copy permuted views of the channels-last arrays, as migrated TF code does
        x = torch.from_numpy(x_nhwc).permute(0, 3, 1, 2)
        w = torch.from_numpy(w_hwio).permute(3, 2, 0, 1)
    else:
        x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))
        w = torch.from_numpy(np.ascontiguousarray(w_hwio.transpose(3, 2, 0, 1)))
    x, w = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    dy = torch.from_numpy(np.ascontiguousarray(dy_nhwc.transpose(0, 3, 1, 2)))
    y = torch.nn.functional.conv2d(x, w, padding="same")
    return torch.autograd.grad(y, w, dy)[0]


reference = grad_weight(view=False)
print("contiguous handover: dw computed, shape", tuple(reference.shape))
try:
    grad_weight(view=True)
except RuntimeError as exc:
    print("permuted-view handover: RuntimeError:", exc)
    sys.exit(1)
print("permuted-view handover: dw computed; not reproduced")
sys.exit(0)
