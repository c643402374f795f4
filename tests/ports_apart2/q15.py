"""JAX port that follows the original PyTorch reference implementation's layouts:
activations and kernels are moved to NCHW / OIHW, convolved, and moved back."""
import jax.numpy as jnp
from jax import lax

from harness.api import impl


def to_nchw(x):
    return jnp.moveaxis(x, -1, 1)


def to_nhwc(y):
    return jnp.moveaxis(y, 1, -1)


def to_oihw(w):
    *kernel, cin, cout = w.shape
    return jnp.reshape(w, (cout, cin, *kernel))


def reference_layout_conv(x, w, case):
    y = lax.conv_general_dilated(
        to_nchw(x), to_oihw(w),
        window_strides=case.strides,
        padding=[tuple(p) for p in case.pads],
        rhs_dilation=case.dilations,
        feature_group_count=case.groups)      # default dimension numbers: NC..., OI...
    return to_nhwc(y)


IMPLS = [impl(reference_layout_conv, framework="jax", name="apart2.q15")]
