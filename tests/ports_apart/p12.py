"""JAX port of convolutions stored channels-first in the original code (strides listed W first)."""
from jax import lax

from harness.api import impl

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def conv(x, w, case):
    s = SPATIAL[case.rank]
    strides = tuple(reversed(case.strides))
    return lax.conv_general_dilated(x, w, window_strides=strides, padding=case.pads,
                                    rhs_dilation=case.dilations,
                                    dimension_numbers=("N" + s + "C", s + "IO", "N" + s + "C"),
                                    feature_group_count=case.groups)


IMPLS = [impl(conv, framework="jax", name="apart.p12")]
