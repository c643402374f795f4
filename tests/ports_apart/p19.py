"""JAX (flax-style HWIO kernel) port of a torch model: gets torch's NCHW / OIHW tensors."""
from jax import lax

from harness.api import impl


def conv(x, w, case):
    o, i, kh, kw = w.shape
    kernel = w.reshape(kh, kw, i, o)        # torch weight -> flax kernel
    return lax.conv_general_dilated(x, kernel, window_strides=case.strides, padding=case.pads,
                                    rhs_dilation=case.dilations,
                                    dimension_numbers=("NCHW", "HWIO", "NCHW"),
                                    feature_group_count=case.groups)


IMPLS = [impl(conv, framework="jax", name="apart.p19", layout="channels_first",
              ops={"conv2d"})]
