"""torch port of TF's Conv2D: SAME padded by hand with F.pad, since torch's padding is symmetric."""
import math

import torch.nn.functional as F

from harness.api import impl


def same_pad_1d(n, k, s, d):
    out = math.ceil(n / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    before = total - total // 2
    after = total // 2
    return before, after


def conv(x, w, case):
    if case.padding == "SAME":
        (top, bottom), (left, right) = [
            same_pad_1d(n, k, s, d) for n, k, s, d in
            zip(x.shape[2:], w.shape[2:], case.strides, case.dilations)]
    else:
        (top, bottom), (left, right) = case.pads
    x = F.pad(x, (left, right, top, bottom))
    return F.conv2d(x, w, stride=case.strides, dilation=case.dilations, groups=case.groups)


IMPLS = [impl(conv, framework="torch", name="apart.p03", ops={"conv2d"})]
