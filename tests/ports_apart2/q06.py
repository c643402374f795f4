"""Decoder upsampling (tf.keras Conv{1,2,3}DTranspose) in PyTorch.

torch's ``padding=`` crops both ends equally, which Keras' "same" does not, so
the decoder runs the uncropped transposed conv and crops itself: the layer's
(before, after) crop and, when the requested output is longer than what is
left, the output padding rows.
"""
import torch.nn.functional as F

from harness.api import impl

_TCONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def target_sizes(case):
    """y's spatial sizes, as the Keras layer reports its output_shape."""
    shape = case.output_shape
    return shape[1:-1] if case.data_format.endswith("C") else shape[2:]


def window(t, axis, start, size):
    """t[start:start + size] along ``axis``, reading zeros outside t."""
    n = t.shape[axis]
    lo, hi = max(0, -start), max(0, start + size - n)
    if lo or hi:
        t = F.pad(t, _pad_list(t.ndim, axis, lo, hi))
        start += lo
    return t.narrow(axis, start, size)


def _pad_list(ndim, axis, lo, hi):
    widths = []
    for a in range(ndim - 1, axis - 1, -1):
        widths += [lo, hi] if a == axis else [0, 0]
    return widths


def decoder_upsample(x, w, case):
    full = _TCONV[case.rank](x, w, stride=tuple(case.strides),
                             dilation=tuple(case.dilations), groups=case.groups)
    y = full
    for i, ((before, after), size) in enumerate(zip(case.pads, target_sizes(case))):
        axis = 2 + i
        cropped = full.shape[axis] - before - after
        output_padding = size - cropped
        # give the output padding rows back, then take the layer's window
        y = window(y, axis, before - output_padding, size)
    return y


IMPLS = [impl(decoder_upsample, framework="torch", name="apart2.q06",
              ops={"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"})]
