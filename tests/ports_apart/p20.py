"""torch port given the TF model's NHWC / HWIO tensors; converts them itself."""
import torch.nn.functional as F

from harness.api import impl

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def conv(x, w, case):
    r = case.rank
    x = x.permute(0, r + 1, *range(1, r + 1))          # N...C -> NC...
    w = w.permute(r, r + 1, *range(r))                  # ...IO -> OI...
    x = F.pad(x, [p for pair in reversed(case.pads) for p in pair])
    y = CONV[r](x, w, stride=case.strides, dilation=case.dilations, groups=case.groups)
    return y.permute(0, *range(2, r + 2), 1)            # NC... -> N...C


IMPLS = [impl(conv, framework="torch", name="apart.p20", layout="channels_last")]
