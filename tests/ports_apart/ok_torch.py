"""A correct torch port of TF/Keras convolutions (conv and conv_transpose, 1-3 D)."""
import torch.nn.functional as F

from harness.api import impl

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def torch_pad(pads):
    """[(before, after)] in D, H, W order as F.pad wants it: last axis first."""
    return [p for before_after in reversed(pads) for p in before_after]


def conv(x, w, case):
    if case.op.startswith("conv_transpose"):
        full = CONV_T[case.rank](x, w, stride=case.strides, dilation=case.dilations,
                                 groups=case.groups)
        out = case.canonical_output_shape[2:]
        # y[j] = full[j + before], zeros past the end of full
        crop = [(-before, size - n + before)
                for (before, _), n, size in zip(case.pads, full.shape[2:], out)]
        return F.pad(full, torch_pad(crop))
    x = F.pad(x, torch_pad(case.pads))
    return CONV[case.rank](x, w, stride=case.strides, dilation=case.dilations,
                           groups=case.groups)


IMPLS = [impl(conv, framework="torch", name="apart.ok_torch",
              ops={"conv1d", "conv2d", "conv3d",
                   "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"})]
