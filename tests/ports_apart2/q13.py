"""The encoder convs of the Keras model in JAX (flax-free: plain lax).

Inputs stay channels-last as in the TF checkpoint, so the kernels can be used
as stored (HWIO).
"""
from jax import lax

from harness.api import impl

_SPECS = {
    1: ("NWC", "WIO", "NWC"),
    2: ("NHWC", "HWIO", "NHWC"),
    3: ("NDHWC", "DHWIO", "NDHWC"),
}


def _padding(case):
    # explicit (lo, hi) per spatial axis; the case already resolved SAME/SAME_LOWER
    return [(int(lo), int(hi)) for lo, hi in case.pads]


def encoder_conv(x, w, case):
    return lax.conv_general_dilated(
        x, w,
        window_strides=tuple(case.strides),
        padding=_padding(case),
        rhs_dilation=tuple(case.dilations),
        dimension_numbers=_SPECS[case.rank],
        feature_group_count=case.groups,
    )


IMPLS = [impl(encoder_conv, framework="jax", name="apart2.q13")]
