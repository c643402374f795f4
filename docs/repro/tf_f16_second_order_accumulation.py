"""Standalone: TensorFlow's float16 second-order conv grads (ddx, ddw) on the CPU are
accumulated in float16, not float32 (as its first-order dx / dw already are).

ddx = dx(dy, w := gw) = Conv2DBackpropInput(x.shape, gw, dy); ddw = dw(x := gx, dy) =
Conv2DBackpropFilter(gx, w.shape, dy). Taken two ways a user would: those raw ops, and
nested tf.GradientTape (double backward of <dx, gx> + <dw, gw>). Reference: float64 NumPy.
A sum of n products accumulated in float32 and rounded once to float16 is within
    n * 2**-24 * M + 2**-11 * |exact| + 2**-25     (M: the sum of |products|)
of the exact value; "f16acc" is the same with 2**-11 in place of 2**-24.
Printed: max |err| / bound (> 1: not float32 accumulation).
"""
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
from numpy.lib.stride_tricks import sliding_window_view as win

rng = np.random.default_rng(0)
N, H, C, O, K = 1, 6, 3, 4, 3          # NHWC x (1, 6, 6, 3), HWIO w (3, 3, 3, 4), VALID
OUT = H - K + 1
r = lambda *s: rng.standard_normal(s).astype(np.float16).astype(np.float64)  # noqa: E731
x, gx = r(N, H, H, C), r(N, H, H, C)
w, gw = r(K, K, C, O), r(K, K, C, O)
dy = r(N, OUT, OUT, O)


def conv_dx(dy, w):   # float64: input gradient of VALID stride-1 conv (NHWC, HWIO)
    p = np.pad(dy, ((0, 0), (K - 1, K - 1), (K - 1, K - 1), (0, 0)))
    return np.einsum("nijoab,abco->nijc", win(p, (K, K), axis=(1, 2)), w[::-1, ::-1])


def conv_dw(x, dy):   # float64: filter gradient
    return np.einsum("nabcij,nijo->abco", win(x, (OUT, OUT), axis=(1, 2)), dy)


def ratios(got, exact, mag, n):
    err = np.abs(got.astype(np.float64) - exact)
    tail = 2.0 ** -11 * np.abs(exact) + 2.0 ** -25
    return (np.max(err / (n * 2.0 ** -24 * mag + tail)),
            np.max(err / (n * 2.0 ** -11 * mag + tail)))


exact = {"ddx": conv_dx(dy, gw), "ddw": conv_dw(gx, dy)}
mag = {"ddx": conv_dx(abs(dy), abs(gw)), "ddw": conv_dw(abs(gx), abs(dy))}
terms = {"ddx": conv_dx(np.ones_like(dy), np.ones_like(gw)),
         "ddw": conv_dw(np.ones_like(gx), np.ones_like(dy))}

T = lambda a: tf.constant(a, tf.float16)  # noqa: E731
nn = tf.compat.v1.nn
raw = {"ddx": nn.conv2d_backprop_input([N, H, H, C], T(gw), T(dy), [1, 1, 1, 1], "VALID"),
       "ddw": nn.conv2d_backprop_filter(T(gx), [K, K, C, O], T(dy), [1, 1, 1, 1], "VALID")}
X, W, DY, GX, GW = map(T, (x, w, dy, gx, gw))
with tf.GradientTape() as outer:
    outer.watch([X, W, DY])
    with tf.GradientTape() as inner:
        inner.watch([X, W])
        y = tf.nn.conv2d(X, W, 1, "VALID")
    dx, dw = inner.gradient(y, (X, W), output_gradients=DY)
    s = tf.reduce_sum(dx * GX) + tf.reduce_sum(dw * GW)
tape = dict(zip(("ddx", "ddw"), outer.gradient(s, (X, W))))
# the same computed in float32 and rounded once to float16: what float32 accumulation gives
f32 = {"ddx": nn.conv2d_backprop_input([N, H, H, C], tf.constant(gw, tf.float32),
                                       tf.constant(dy, tf.float32), [1, 1, 1, 1], "VALID"),
       "ddw": nn.conv2d_backprop_filter(tf.constant(gx, tf.float32), [K, K, C, O],
                                        tf.constant(dy, tf.float32), [1, 1, 1, 1], "VALID")}
print("tensorflow", tf.__version__, "CPU; max |err| / float32-accumulation bound  [/ f16acc]")
for g in ("ddx", "ddw"):
    for how, v in (("raw op", raw[g]), ("nested tape", tape[g]),
                   ("float32 then rounded", tf.cast(f32[g], tf.float16))):
        a, b = ratios(v.numpy(), exact[g], mag[g], terms[g])
        print(f"  {g} {how:22s} {a:8.3g}  [{b:.2g}]")
    print(f"  {g} raw op == nested tape bitwise:", np.array_equal(raw[g].numpy(), tape[g].numpy()))
