"""1-D sensor model, ported from a NumPy/SciPy prototype to JAX.

The prototype computed each Conv1D channel pair with scipy.signal.convolve;
jax.scipy.signal.convolve is its drop-in replacement and differentiates for
free. Strides, dilation and padding are applied around it.
"""
import jax.numpy as jnp
from jax.scipy import signal

from harness.api import impl


def dilate_taps(w, rate):
    """(k, in, out) taps with rate - 1 zeros between them."""
    if rate == 1:
        return w
    k = w.shape[0]
    out = jnp.zeros(((k - 1) * rate + 1,) + w.shape[1:], w.dtype)
    return out.at[::rate].set(w)


def sensor_conv1d(x, w, case):
    (before, after), = case.pads
    (stride,), (rate,) = case.strides, case.dilations
    x = jnp.pad(x, ((0, 0), (before, after), (0, 0)))
    taps = dilate_taps(w, rate)
    groups = case.groups
    cin = x.shape[2] // groups
    cout = w.shape[2] // groups
    channels = []
    for o in range(w.shape[2]):
        g = o // cout
        acc = 0.0
        for c in range(cin):
            # batch on axis 0, time on axis 1: a (1, taps) kernel only slides in time
            acc = acc + signal.convolve(x[:, :, g * cin + c], taps[None, :, c, o],
                                        mode="valid")
        channels.append(acc[:, ::stride])
    return jnp.stack(channels, axis=-1)


IMPLS = [impl(sensor_conv1d, framework="jax", name="apart2.q08", ops={"conv1d"})]
