"""torch port: every padding mode resolved by the harness, applied with F.pad."""
import torch.nn.functional as F

from harness.api import impl

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def conv(x, w, case):
    pads = []
    for before, after in case.pads:
        pads += [before, after]
    x = F.pad(x, pads)
    return CONV[case.rank](x, w, stride=case.strides, dilation=case.dilations,
                           groups=case.groups)


IMPLS = [impl(conv, framework="torch", name="apart.p05")]
