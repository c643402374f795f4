"""JAX port of Keras / torch transposed convs (Conv1D/2D/3DTranspose, ConvTranspose*d)."""
import jax.numpy as jnp
from jax import lax

from harness.api import impl

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def conv_transpose(x, w, case):
    rank, g = case.rank, case.groups
    s = SPATIAL[rank]
    # the forward conv's HWIO filter as the kernel of a conv over the stride-dilated x:
    # flipped in space, its in/out axes exchanged within each group
    *k, i_g, o = w.shape
    kern = w.reshape(*k, i_g, g, o // g)
    kern = jnp.moveaxis(kern, (rank, rank + 1, rank + 2), (rank + 2, rank + 1, rank))
    kern = jnp.flip(kern.reshape(*k, o // g, g * i_g), axis=tuple(range(rank)))
    padding = []
    for n, kk, st, d, (before, after), size in zip(x.shape[1:-1], k, case.strides,
                                                    case.dilations, case.pads,
                                                    case.canonical_output_shape[2:]):
        eff = (kk - 1) * d + 1
        full = (n - 1) * st + eff
        output_padding = size - (full - before - after)
        padding.append((eff - 1 - before + output_padding, eff - 1 - after))
    return lax.conv_general_dilated(x, kern, window_strides=(1,) * rank, padding=padding,
                                    lhs_dilation=case.strides, rhs_dilation=case.dilations,
                                    dimension_numbers=("N" + s + "C", s + "IO", "N" + s + "C"),
                                    feature_group_count=g)


IMPLS = [impl(conv_transpose, framework="jax", name="apart.p22",
              ops={"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"})]
