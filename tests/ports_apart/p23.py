"""torch port of Keras' Conv2DTranspose: the full transposed conv, then cropped to y's size."""
import torch.nn.functional as F

from harness.api import impl


def conv_transpose(x, w, case):
    full = F.conv_transpose2d(x, w, stride=case.strides, dilation=case.dilations,
                              groups=case.groups)
    crop = []
    for (before, after), n, size in zip(case.pads, full.shape[2:],
                                        case.canonical_output_shape[2:]):
        output_padding = size - (n - before - after)
        start = before - output_padding        # output_padding rows go on top
        crop.append((-start, size - n + start))
    (top, bottom), (left, right) = crop
    return F.pad(full, (left, right, top, bottom))


IMPLS = [impl(conv_transpose, framework="torch", name="apart.p23", ops={"conv_transpose2d"})]
