"""Flax-style conv in plain lax for the dilated context module (ASPP) of the
Keras model; the padding comes resolved from the Keras layer config."""
from jax import lax

from harness.api import impl


def _dims(rank):
    sp = {1: "W", 2: "HW", 3: "DHW"}[rank]
    return ("N" + sp + "C", sp + "IO", "N" + sp + "C")


def aspp_conv(x, w, case):
    return lax.conv_general_dilated(
        lhs=x, rhs=w,
        window_strides=tuple(case.strides),
        padding=[(lo, hi) for lo, hi in case.pads],
        dimension_numbers=_dims(case.rank),
        feature_group_count=case.groups)


IMPLS = [impl(aspp_conv, framework="jax", name="apart2.q18")]
