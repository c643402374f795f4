"""torch port of a Keras model's convolutions (Conv1D/2D/3D, any padding)."""
import torch.nn.functional as F

from harness.api import impl

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def conv(x, w, case):
    fn = CONV[case.rank]
    kw = dict(stride=case.strides, dilation=case.dilations, groups=case.groups)
    if case.padding == "SAME":
        # keras padding="same": keep the spatial size, pad half the receptive field
        same = tuple(d * (k - 1) // 2 for k, d in zip(w.shape[2:], case.dilations))
        return fn(x, w, padding=same, **kw)
    # VALID, SAME_LOWER and explicit pads: the harness resolved them already
    pad = [p for pair in reversed(case.pads) for p in pair]
    return fn(F.pad(x, pad), w, padding=0, **kw)


IMPLS = [impl(conv, framework="torch", name="apart.p01")]
