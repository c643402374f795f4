"""Detection head convs: TF "same"/explicit padding replayed in torch with F.pad.

F.pad lists its widths starting from the last dimension, so the per-axis pad
list of the layer is reversed before it is handed over.
"""
import torch.nn.functional as F

from harness.api import impl

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def pad_like_tf(x, pads):
    widths = [p for pair in pads for p in pair]      # (before, after) per axis, D..W
    return F.pad(x, widths[::-1])


def head_conv(x, w, case):
    return CONV[case.rank](pad_like_tf(x, case.pads), w, stride=case.strides,
                           dilation=case.dilations, groups=case.groups)


IMPLS = [impl(head_conv, framework="torch", name="apart2.q16")]
