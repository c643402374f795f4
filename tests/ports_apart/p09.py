"""torch port whose conv was first prototyped with scipy.signal.convolve."""
import torch.nn.functional as F

from harness.api import impl

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def conv(x, w, case):
    # the reference convolution runs the kernel back to front
    spatial = tuple(range(2, w.dim()))
    kernel = w.flip(spatial)
    x = F.pad(x, [p for pair in reversed(case.pads) for p in pair])
    return CONV[case.rank](x, kernel, stride=case.strides, dilation=case.dilations,
                           groups=case.groups)


IMPLS = [impl(conv, framework="torch", name="apart.p09")]
