"""Standalone reproduction: TensorFlow's DepthwiseConv2dNativeBackpropInput and
DepthwiseConv2dNativeBackpropFilter ignore their `dilations` attribute on the CPU.

Both ops document `dilations` ("1-D tensor of length 4. The dilation factor for
each dimension of input"), and tf.nn.depthwise_conv2d(..., dilations=...) computes
the dilated forward conv correctly. The backprop ops, called with the same
dilations, compute the gradients of the UNDILATED conv:

* SAME padding: wrong values, silently (the output size does not depend on the
  dilation, so no shape check fires);
* VALID or explicit padding: a correctly sized out_backprop is refused, because
  the op computes the output size without the dilation ("Number of cols of
  out_backprop doesn't match computed"), or with oneDNN (float32, VALID) the
  primitive cannot be created (AbortedError).

Related: tensorflow#56498 (open) and #19992 report the same for the forward
DepthwiseConv2dNative op, which refuses dilations on TF's own CPU kernel now
("Current kernel implementation does not support dilations").

    python3 tf_depthwise_backprop_ignores_dilations.py          # exit 1: bug
    TF_ENABLE_ONEDNN_OPTS=0 python3 ...                          # the same

A tiny integer case, checked by hand: x = [1, 2, 3, 4, 5] (NHWC, H = 1, one
channel), w = [1, 10] (a 2-tap kernel, multiplier 1), dilation 2 in W, SAME
(pads 1 + 1): y[j] = xpad[j] + 10 * xpad[j + 2] = [20, 31, 42, 53, 4]. With
dy = [1, 0, 0, 2, 0]: dx = [0, 10, 2, 0, 20], dw = [6, 12]. The convgrad cases
are cases/conformance/depthwise.yaml (conformance/depthwise2d-dilated/*).
"""
import os
import sys

import numpy as np
import tensorflow as tf

print("tensorflow", tf.__version__, "numpy", np.__version__,
      "TF_ENABLE_ONEDNN_OPTS =", os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: default)"))
nn = tf.compat.v1.nn
x = np.array([1., 2., 3., 4., 5.]).reshape(1, 1, 5, 1)     # NHWC
w = np.array([1., 10.]).reshape(1, 2, 1, 1)                # HWCM
dy = np.array([1., 0., 0., 2., 0.]).reshape(1, 1, 5, 1)
RIGHT = {"y": [20, 31, 42, 53, 4], "dx": [0, 10, 2, 0, 20], "dw": [6, 12]}
DILATIONS = [1, 1, 2, 1]

wrong = 0
for dtype in (tf.float32, tf.float64):
    X, W, DY = (tf.constant(a, dtype) for a in (x, w, dy))
    got = {
        "y (tf.nn.depthwise_conv2d)": lambda: tf.nn.depthwise_conv2d(
            X, W, [1, 1, 1, 1], "SAME", dilations=[1, 2]),
        "dx (DepthwiseConv2dNativeBackpropInput)": lambda: nn.depthwise_conv2d_native_backprop_input(
            [1, 1, 5, 1], W, DY, [1, 1, 1, 1], "SAME", dilations=DILATIONS),
        "dw (DepthwiseConv2dNativeBackpropFilter)": lambda: nn.depthwise_conv2d_native_backprop_filter(
            X, [1, 2, 1, 1], DY, [1, 1, 1, 1], "SAME", dilations=DILATIONS),
    }
    for what, thunk in got.items():
        values = thunk().numpy().ravel()
        right = RIGHT[what.split()[0]]
        ok = np.array_equal(values, right)
        wrong += not ok
        print(f"{'ok   ' if ok else 'WRONG'} {dtype.name} SAME {what}: {values.tolist()}, "
              f"expected {right}")

    # VALID: y has 3 elements (5 - 3 + 1); the ops expect 4 (5 - 2 + 1) and refuse.
    y = tf.nn.depthwise_conv2d(X, W, [1, 1, 1, 1], "VALID", dilations=[1, 2])
    dy_valid = tf.ones_like(y)
    for what, thunk in {
            "dx": lambda: nn.depthwise_conv2d_native_backprop_input(
                [1, 1, 5, 1], W, dy_valid, [1, 1, 1, 1], "VALID", dilations=DILATIONS),
            "dw": lambda: nn.depthwise_conv2d_native_backprop_filter(
                X, [1, 2, 1, 1], dy_valid, [1, 1, 1, 1], "VALID", dilations=DILATIONS)}.items():
        try:
            values = thunk().numpy().ravel()
            print(f"ok    {dtype.name} VALID {what}: {values.tolist()} (y {tuple(y.shape)})")
        except (tf.errors.InvalidArgumentError, tf.errors.AbortedError) as exc:
            wrong += 1
            message = " ".join(str(exc).split()).split("}}")[-1].strip()
            print(f"WRONG {dtype.name} VALID {what}: the dilated conv's dy {tuple(y.shape)} is "
                  f"refused: {type(exc).__name__}: {message[:160]}")

print("bug reproduced" if wrong else "not reproduced")
sys.exit(1 if wrong else 0)
