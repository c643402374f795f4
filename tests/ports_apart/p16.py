"""torch port fed the TF model's own NHWC tensors and HWIO kernels; converts them itself."""
import torch.nn.functional as F

from harness.api import impl


def conv(x, w, case):
    n, h, wd, c = x.shape
    x = x.reshape(n, c, h, wd)              # NHWC -> NCHW for torch
    w = w.permute(3, 2, 0, 1)               # HWIO -> OIHW
    (top, bottom), (left, right) = case.pads
    x = F.pad(x, (left, right, top, bottom))
    y = F.conv2d(x, w, stride=case.strides, dilation=case.dilations, groups=case.groups)
    return y.permute(0, 2, 3, 1)            # back to NHWC


IMPLS = [impl(conv, framework="torch", name="apart.p16", layout="channels_last",
              ops={"conv2d"})]
