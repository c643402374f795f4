"""Feature-extractor conv blocks, ported from tf.keras.layers.Conv1D/2D/3D to PyTorch.

Keras pads asymmetrically ("same" puts the odd pixel at the end), which
torch's ``padding=`` cannot express, so we pad explicitly with F.pad first and
run the conv unpadded.
"""
import torch.nn.functional as F

from harness.api import impl

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _explicit_pad(x, pads):
    # F.pad takes (last_before, last_after, prev_before, prev_after, ...)
    flat = []
    for before, after in reversed(pads):
        flat += [before, after]
    return F.pad(x, flat)


def conv_block(x, w, case):
    x = _explicit_pad(x, case.pads)
    return _CONV[case.rank](x, w, stride=case.strides, dilation=case.dilations,
                            groups=case.groups)


IMPLS = [impl(conv_block, framework="torch", name="apart2.q07")]
