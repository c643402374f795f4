"""Inference port that keeps TensorFlow's channels-last tensors end to end.

The data pipeline feeds NHWC batches straight from tf.data and the weights are
the Keras HWIO kernels, so the port converts at the conv boundary only.
"""
import torch
import torch.nn.functional as F

from harness.api import impl

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def to_channels_first(x):
    n, *spatial, c = x.shape
    return x.reshape(n, c, *spatial)


def to_channels_last(y):
    return y.permute(0, *range(2, y.ndim), 1)


def kernel_to_torch(w):
    # (*k, in, out) -> (out, in, *k)
    r = w.ndim - 2
    return w.permute(r + 1, r, *range(r))


def nhwc_conv(x, w, case):
    xc = to_channels_first(x)
    pad = [p for before_after in reversed(case.pads) for p in before_after]
    y = _CONV[case.rank](F.pad(xc, pad), kernel_to_torch(w), stride=case.strides,
                         dilation=case.dilations, groups=case.groups)
    return to_channels_last(y).contiguous()


IMPLS = [impl(nhwc_conv, framework="torch", name="apart2.q03", layout="channels_last")]
