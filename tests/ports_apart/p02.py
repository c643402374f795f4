"""JAX port of a TF model's Conv2D layers, with the padding computed like TF's."""
import math

from jax import lax

from harness.api import impl


def same_pads(n, k, s, d):
    out = math.ceil(n / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    # lax takes one (low, high) pair per axis; keep the conv centred
    return (total // 2, total // 2)


def conv(x, w, case):
    if case.padding == "SAME":
        padding = [same_pads(n, k, s, d) for n, k, s, d in
                   zip(x.shape[1:-1], w.shape[:-2], case.strides, case.dilations)]
    else:
        padding = case.pads
    return lax.conv_general_dilated(x, w, window_strides=case.strides, padding=padding,
                                    rhs_dilation=case.dilations,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    feature_group_count=case.groups)


IMPLS = [impl(conv, framework="jax", name="apart.p02", ops={"conv2d"})]
