"""JAX port of TF's Conv2D, kernel spec written from tf.nn.conv2d_transpose's docs."""
from jax import lax

from harness.api import impl


def conv(x, w, case):
    # TF kernels are [height, width, out_channels, in_channels]
    return lax.conv_general_dilated(x, w, window_strides=case.strides, padding=case.pads,
                                    rhs_dilation=case.dilations,
                                    dimension_numbers=("NHWC", "HWOI", "NHWC"),
                                    feature_group_count=case.groups)


IMPLS = [impl(conv, framework="jax", name="apart.p21", ops={"conv2d"})]
