"""Audio frontend ported from Keras to JAX.

Keras' padding="same" is recomputed here from the kernel size so the same
helper serves the flax modules, which get only an integer kernel and rate.
"""
import jax.numpy as jnp
from jax import lax

from harness.api import impl


def same_padding(kernel, rate, lower=False):
    """(lo, hi) so that a stride-1 output keeps the input length."""
    span = rate * (kernel - 1)
    small, large = span // 2, span - span // 2
    return (large, small) if lower else (small, large)


def resolve_padding(case, kernel_sizes):
    if case.padding == "VALID":
        return [(0, 0)] * len(kernel_sizes)
    if case.padding in ("SAME", "SAME_LOWER"):
        return [same_padding(k, r, lower=case.padding == "SAME_LOWER")
                for k, r in zip(kernel_sizes, case.dilations)]
    return [(int(lo), int(hi)) for lo, hi in case.padding]


def frontend_conv(x, w, case):
    rank = x.ndim - 2
    spatial = "DHW"[3 - rank:]
    dn = lax.conv_dimension_numbers(x.shape, w.shape,
                                    ("N" + spatial + "C", spatial + "IO", "N" + spatial + "C"))
    return lax.conv_general_dilated(
        x, jnp.asarray(w), window_strides=tuple(case.strides),
        padding=resolve_padding(case, w.shape[:rank]),
        rhs_dilation=tuple(case.dilations), dimension_numbers=dn,
        feature_group_count=case.groups)


IMPLS = [impl(frontend_conv, framework="jax", name="apart2.q02")]
