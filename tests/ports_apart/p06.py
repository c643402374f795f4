"""torch port of TF's SAME, split as TF splits it (the odd pad after)."""
import torch.nn.functional as F

from harness.api import impl


def same_pads(k, d):
    total = d * (k - 1)
    return total // 2, total - total // 2


def conv(x, w, case):
    if case.padding == "SAME":
        pads = [same_pads(k, d) for k, d in zip(w.shape[2:], case.dilations)]
    else:
        pads = case.pads
    (top, bottom), (left, right) = pads
    x = F.pad(x, (left, right, top, bottom))
    return F.conv2d(x, w, stride=case.strides, dilation=case.dilations, groups=case.groups)


IMPLS = [impl(conv, framework="torch", name="apart.p06", ops={"conv2d"})]
