"""Volumetric decoder: Keras Conv{2,3}DTranspose layers moved to PyTorch.

The port consumes the TF checkpoint directly: activations channels-last and
the Keras transposed kernels, which are stored (*k, filters, in_channels).
"""
import torch.nn.functional as F

from harness.api import impl

_TCONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def keras_tkernel_to_torch(k):
    """Keras Conv*DTranspose kernel -> torch ConvTranspose*d weight (in, out, *k)."""
    r = k.ndim - 2
    return k.permute(r, r + 1, *range(r))


def crop_to(t, case, sizes):
    """y[j] = full[j + before]; zeros past the end of the full output."""
    for i, ((before, _after), size) in enumerate(zip(case.pads, sizes)):
        axis = 2 + i
        extra = max(0, before + size - t.shape[axis])
        if extra:
            t = F.pad(t, [0, 0] * (t.ndim - 1 - axis) + [0, extra])
        if before < 0:
            t = F.pad(t, [0, 0] * (t.ndim - 1 - axis) + [-before, 0])
            before = 0
        t = t.narrow(axis, before, size)
    return t


def volumetric_upsample(x, w, case):
    r = x.ndim - 2
    xc = x.permute(0, r + 1, *range(1, r + 1))            # N...C -> NC...
    full = _TCONV[r](xc, keras_tkernel_to_torch(w), stride=tuple(case.strides),
                     dilation=tuple(case.dilations), groups=case.groups)
    shape = case.output_shape
    sizes = shape[1:-1] if case.data_format.endswith("C") else shape[2:]
    y = crop_to(full, case, sizes)
    return y.permute(0, *range(2, r + 2), 1)                # NC... -> N...C


IMPLS = [impl(volumetric_upsample, framework="torch", name="apart2.q10",
              layout="channels_last",
              ops={"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"})]
