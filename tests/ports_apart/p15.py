"""torch port of TF's Conv2D (dilation_rate given as (rate_w, rate_h) in the source config)."""
import torch.nn.functional as F

from harness.api import impl


def conv(x, w, case):
    (top, bottom), (left, right) = case.pads
    x = F.pad(x, (left, right, top, bottom))
    rate_h, rate_w = case.dilations
    return F.conv2d(x, w, stride=case.strides, dilation=(rate_w, rate_h), groups=case.groups)


IMPLS = [impl(conv, framework="torch", name="apart.p15", ops={"conv2d"})]
