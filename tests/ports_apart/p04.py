"""JAX port of TF convolutions (1-3 D); padding strings mapped onto lax's."""
from jax import lax

from harness.api import impl

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}
LAX_PADDING = {"VALID": "VALID", "SAME": "SAME_LOWER", "SAME_LOWER": "SAME_LOWER"}


def conv(x, w, case):
    s = SPATIAL[case.rank]
    if isinstance(case.padding, str):
        padding = LAX_PADDING[case.padding]
    else:
        padding = [tuple(p) for p in case.padding]
    return lax.conv_general_dilated(x, w, window_strides=case.strides, padding=padding,
                                    rhs_dilation=case.dilations,
                                    dimension_numbers=("N" + s + "C", s + "IO", "N" + s + "C"),
                                    feature_group_count=case.groups)


IMPLS = [impl(conv, framework="jax", name="apart.p04")]
