"""torch port loading the Keras kernels (HWIO) as they are saved; converts them itself."""
import torch.nn.functional as F

from harness.api import impl


def conv(x, w, case):
    kh, kw, i, o = w.shape
    w = w.reshape(o, i, kh, kw)             # keras kernel -> torch weight
    x = x.permute(0, 3, 1, 2)               # NHWC -> NCHW
    (top, bottom), (left, right) = case.pads
    x = F.pad(x, (left, right, top, bottom))
    y = F.conv2d(x, w, stride=case.strides, dilation=case.dilations, groups=case.groups)
    return y.permute(0, 2, 3, 1)


IMPLS = [impl(conv, framework="torch", name="apart.p18", layout="channels_last",
              ops={"conv2d"})]
