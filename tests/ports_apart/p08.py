"""torch port of a model's Conv2D layers; the pads handed to F.conv2d as torch takes them."""
import torch.nn.functional as F

from harness.api import impl


def conv(x, w, case):
    if isinstance(case.padding, str):      # "VALID" / "SAME" / "SAME_LOWER" layers
        return F.conv2d(x, w, stride=case.strides, dilation=case.dilations,
                        groups=case.groups, padding=0)
    (top, bottom), (left, right) = case.padding
    x = F.pad(x, (left, right, top, bottom))
    return F.conv2d(x, w, stride=case.strides, dilation=case.dilations, groups=case.groups)


IMPLS = [impl(conv, framework="torch", name="apart.p08", ops={"conv2d"})]
