"""The toy framework's convolution: plain NumPy loops over the kernel taps, channels-first,
non-negative pads, one group. The adapter calls it; the script template copies its source
into each standalone script, which must not import convgrad or this package."""
import itertools

import numpy as np


def conv(x, w, strides, pads, dilations):
    """y[n, o, *p] = sum over c and the taps t of xpad[n, c, *(s * p + d * t)] * w[o, c, *t]."""
    xp = np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pads])
    kernel = w.shape[2:]
    out = [(n - ((k - 1) * d + 1)) // s + 1
           for n, k, s, d in zip(xp.shape[2:], kernel, strides, dilations)]
    y = np.zeros((x.shape[0], w.shape[0], *out))
    for tap in itertools.product(*map(range, kernel)):
        window = xp[(slice(None), slice(None)) + tuple(
            slice(t * d, t * d + s * (o - 1) + 1, s)
            for t, d, s, o in zip(tap, dilations, strides, out))]
        y += np.einsum("nc...,oc->no...", window, w[(slice(None), slice(None)) + tap])
    return y
