"""Keras Conv layers as torch functional calls.

torch's ``padding=`` takes one amount per spatial axis, so each layer passes
the amount Keras puts in front of the data.
"""
import torch.nn.functional as F

from harness.api import impl


def torch_padding(case):
    return tuple(before for before, _after in case.pads)


def keras_conv(x, w, case):
    fn = (F.conv1d, F.conv2d, F.conv3d)[case.rank - 1]
    return fn(x, w, stride=tuple(case.strides), padding=torch_padding(case),
              dilation=tuple(case.dilations), groups=case.groups)


IMPLS = [impl(keras_conv, framework="torch", name="apart2.q05")]
