"""torch port of a Keras model (Conv1D/2D/3D with an integer `strides=`)."""
import torch.nn.functional as F

from harness.api import impl

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def conv(x, w, case):
    stride = case.strides[0]
    x = F.pad(x, [p for pair in reversed(case.pads) for p in pair])
    return CONV[case.rank](x, w, stride=stride, dilation=case.dilations, groups=case.groups)


IMPLS = [impl(conv, framework="torch", name="apart.p13")]
