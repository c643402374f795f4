"""Standalone reproduction: TensorFlow's CPU transposed and depthwise convolutions
accumulate float16 (and, on TF's own kernels, bfloat16) in the 16-bit type.

The companion of half_precision_accumulation.py (conv2d) for the ops of
cases/conformance/transpose.yaml and depthwise.yaml (their half-precision cases
conformance/half-ops/*):

* tf.nn.conv2d_transpose: y is Conv2DBackpropInput, the kernel whose float16
  dx accumulates in float16;
* tf.nn.depthwise_conv2d itself (DepthwiseConv2dNative): y;
* tf.nn.depthwise_conv2d's backprop ops
  (depthwise_conv2d_native_backprop_input / _filter): dx and dw.

A result accumulated in float32 and rounded once to the 16-bit type is within

    n * 2**-24 * M  +  u * |exact|  +  eta          (u: 2**-11 float16, 2**-8 bfloat16)

of the exact value (n products, M the sum of their magnitudes, eta half the
subnormal spacing): convgrad's bound. This prints max |err| / that bound per
result (> 1: not accumulated in float32), and in brackets the same against the
bound for accumulation in the 16-bit type itself (u in place of 2**-24). The
exact values are computed in float64 with NumPy. Inputs: standard normal values
rounded to the dtype, stride 1, a 5x5 kernel, padding SAME and the same 2-pixel
border as explicit pads (which sends TF to its own kernels instead of oneDNN).

    python3 tf_half_precision_ops.py                          # exit 1: reproduced
    TF_ENABLE_ONEDNN_OPTS=0 python3 tf_half_precision_ops.py  # bfloat16 too
"""
import os
import sys

import numpy as np
import tensorflow as tf
from numpy.lib.stride_tricks import sliding_window_view as windows

print("tensorflow", tf.__version__, "numpy", np.__version__,
      "TF_ENABLE_ONEDNN_OPTS =", os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: default)"))
N, H, K, P = 3, 14, 5, 2                 # NHWC; P: the SAME / explicit border
U = {"float16": 2.0 ** -11, "bfloat16": 2.0 ** -8}
ETA = {"float16": 2.0 ** -25, "bfloat16": 2.0 ** -134}


def rounded(shape, dtype, rng):
    """Standard normal values rounded to ``dtype`` (through TF), as float64."""
    a = tf.cast(tf.constant(rng.standard_normal(shape)), dtype)
    return tf.cast(a, tf.float64).numpy()


def pad(a, p):
    return np.pad(a, ((0, 0), (p, p), (p, p)) + ((0, 0),) * (a.ndim - 3))


def transposed_y(x, w):
    """conv2d_transpose(x, w) with SAME pads P: the input gradient of the forward conv
    whose filter w is [K, K, out, in] (HWIO of the forward conv), x in its output role."""
    full = np.einsum("npqoab,abio->npqi", windows(pad(x, K - 1), (K, K), axis=(1, 2)),
                     w[::-1, ::-1])
    return full[:, P:P + H, P:P + H]


def depthwise_y(x, w):
    """tf.nn.depthwise_conv2d(x, w), SAME pads P (w: [K, K, C, M])."""
    y = np.einsum("nijcab,abcm->nijcm", windows(pad(x, P), (K, K), axis=(1, 2)), w)
    return y.reshape(*y.shape[:3], -1)


def depthwise_dx(dy, w):
    """Input gradient of the depthwise conv (w: [K, K, C, M], dy: [N, H, W, C * M])."""
    c, m = w.shape[2:]
    dy = dy.reshape(*dy.shape[:3], c, m)
    full = np.einsum("npqcmab,abcm->npqc", windows(pad(dy, K - 1), (K, K), axis=(1, 2)),
                     w[::-1, ::-1])
    return full[:, P:P + H, P:P + H]


def depthwise_dw(x, dy, c, m):
    dy = dy.reshape(*dy.shape[:3], c, m)
    return np.einsum("nabcij,nijcm->abcm", windows(pad(x, P), (H, H), axis=(1, 2)), dy)


def ratios(got, exact, magnitude, terms, dtype):
    err = np.abs(got - exact)
    tail = U[dtype] * np.abs(exact) + ETA[dtype]
    f32 = np.max(err / (terms * 2.0 ** -24 * magnitude + tail))
    own = np.max(err / (terms * U[dtype] * magnitude + tail))
    return f32, own


nn = tf.compat.v1.nn
worst = 0.0
print("max |err| / bound with float32 accumulation (> 1: not float32)  "
      "[/ bound with 16-bit accumulation]")
for name in ("float16", "bfloat16"):
    dtype = getattr(tf, name)
    rng = np.random.default_rng(0)
    # transposed: 38 input channels -> 37 output channels, 14x14 -> 14x14 (SAME)
    xt, wt = rounded((N, H, H, 38), dtype, rng), rounded((K, K, 37, 38), dtype, rng)
    # depthwise: 4 channels, multiplier 8
    xd, wd = rounded((N, H, H, 4), dtype, rng), rounded((K, K, 4, 8), dtype, rng)
    dyd = rounded((N, H, H, 32), dtype, rng)
    exact = {"conv2d_transpose y": (transposed_y(xt, wt), transposed_y(abs(xt), abs(wt)),
                                    transposed_y(np.ones_like(xt), np.ones_like(wt))),
             "depthwise y": (depthwise_y(xd, wd), depthwise_y(abs(xd), abs(wd)),
                             depthwise_y(np.ones_like(xd), np.ones_like(wd))),
             "depthwise dx": (depthwise_dx(dyd, wd), depthwise_dx(abs(dyd), abs(wd)),
                              depthwise_dx(np.ones_like(dyd), np.ones_like(wd))),
             "depthwise dw": (depthwise_dw(xd, dyd, 4, 8), depthwise_dw(abs(xd), abs(dyd), 4, 8),
                              depthwise_dw(np.ones_like(xd), np.ones_like(dyd), 4, 8))}
    for padding in ("SAME", [[0, 0], [P, P], [P, P], [0, 0]]):
        c = lambda a: tf.constant(a, dtype)  # noqa: E731 - exact: the values are rounded
        got = {
            "conv2d_transpose y": tf.nn.conv2d_transpose(c(xt), c(wt), (N, H, H, 37), 1,
                                                         padding),
            "depthwise y": tf.nn.depthwise_conv2d(c(xd), c(wd), [1, 1, 1, 1], padding),
            "depthwise dx": nn.depthwise_conv2d_native_backprop_input(
                (N, H, H, 4), c(wd), c(dyd), [1, 1, 1, 1], padding),
            "depthwise dw": nn.depthwise_conv2d_native_backprop_filter(
                c(xd), (K, K, 4, 8), c(dyd), [1, 1, 1, 1], padding),
        }
        cells = []
        for what, result in got.items():
            f32, own = ratios(tf.cast(result, tf.float64).numpy(), *exact[what], name)
            worst = max(worst, f32)
            cells.append(f"{what} {f32:7.3g} [{own:.2g}]")
        label = "SAME" if padding == "SAME" else "explicit"
        print(f"  {name:8s} {label:8s}  " + "   ".join(cells))

print("reproduced: accumulated in the 16-bit type" if worst > 1 else "not reproduced")
sys.exit(1 if worst > 1 else 0)
