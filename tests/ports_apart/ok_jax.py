"""A correct JAX port of TF/Keras convolutions (conv and conv_transpose, 1-3 D)."""
import jax.numpy as jnp
from jax import lax

from harness.api import impl

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def specs(rank):
    s = SPATIAL[rank]
    return ("N" + s + "C", s + "IO", "N" + s + "C")      # NHWC, HWIO, NHWC


def conv(x, w, case):
    rank = case.rank
    if case.op.startswith("conv_transpose"):
        # the transposed conv as a forward conv over the stride-dilated x, with the
        # kernel flipped and its channel axes exchanged group by group
        *k, i_g, o = w.shape            # the forward conv's HWIO filter: i_g = y channels / G
        g = case.groups
        kern = w.reshape(*k, i_g, g, o // g)
        kern = jnp.moveaxis(kern, (rank, rank + 1, rank + 2), (rank + 2, rank + 1, rank))
        kern = kern.reshape(*k, o // g, g * i_g)
        kern = jnp.flip(kern, axis=tuple(range(rank)))
        out = case.canonical_output_shape[2:]
        padding = []
        for n, kk, s, d, (before, after), size in zip(x.shape[1:-1], k, case.strides,
                                                       case.dilations, case.pads, out):
            eff = (kk - 1) * d + 1
            full = (n - 1) * s + eff
            extra = size - (full - before - after)      # output_padding: rows after y's data
            padding.append((eff - 1 - before, eff - 1 - after + extra))
        return lax.conv_general_dilated(x, kern, window_strides=(1,) * rank, padding=padding,
                                        lhs_dilation=case.strides, rhs_dilation=case.dilations,
                                        dimension_numbers=specs(rank), feature_group_count=g)
    return lax.conv_general_dilated(x, w, window_strides=case.strides, padding=case.pads,
                                    rhs_dilation=case.dilations,
                                    dimension_numbers=specs(rank),
                                    feature_group_count=case.groups)


IMPLS = [impl(conv, framework="jax", name="apart.ok_jax",
              ops={"conv1d", "conv2d", "conv3d",
                   "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"})]
