"""Backbone convs of the segmentation model, TF -> PyTorch.

Every Keras Conv2D/Conv3D layer is replayed as an explicit pad followed by an
unpadded torch conv, so odd "same" totals land where TensorFlow puts them.
"""
import torch.nn.functional as F

from harness.api import impl


def keras_pad(x, pads):
    """Zero-pads the spatial axes by the (before, after) pairs of the layer."""
    widths = []
    for before, after in pads:
        widths.extend((before, after))
    return F.pad(x, widths, mode="constant", value=0.0)


def backbone_conv(x, w, case):
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[case.rank]
    return conv(keras_pad(x, case.pads), w, stride=case.strides, dilation=case.dilations,
                groups=case.groups)


IMPLS = [impl(backbone_conv, framework="torch", name="apart2.q01")]
