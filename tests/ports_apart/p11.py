"""torch port of TF's Conv2D."""
import torch.nn.functional as F

from harness.api import impl


def conv(x, w, case):
    sw, sh = case.strides
    (top, bottom), (left, right) = case.pads
    x = F.pad(x, (left, right, top, bottom))
    return F.conv2d(x, w, stride=(sh, sw), dilation=case.dilations, groups=case.groups)


IMPLS = [impl(conv, framework="torch", name="apart.p11", ops={"conv2d"})]
