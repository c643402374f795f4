"""Standalone reproduction of tensorflow#64396: with oneDNN, a convolution whose
output is empty (the kernel is larger than the input) returns a tensor of the
INPUT's shape, holding uninitialized memory, instead of the empty output; the
same happens with a batch of 0 (the output gets the input's channel count).

https://github.com/tensorflow/tensorflow/issues/64396 (reported for Keras Conv2D
on Windows with TF 2.16; on Linux oneDNN is on by default for x86-64 too).

    python3 tf_onednn_empty_output_shape.py                          # exit 1: bug
    TF_ENABLE_ONEDNN_OPTS=0 python3 tf_onednn_empty_output_shape.py  # exit 0

Shapes of the convgrad cases cases/degenerate/degenerate.yaml
(degenerate/empty-output/*, degenerate/batch-0).
"""
import os
import sys

import numpy as np
import tensorflow as tf

print("tensorflow", tf.__version__, "numpy", np.__version__,
      "TF_ENABLE_ONEDNN_OPTS =", os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: default)"))
rng = np.random.default_rng(0)


def t(*shape):
    return tf.constant(rng.standard_normal(shape).astype(np.float32))


checks = [  # (what, thunk, the right shape)
    ("conv2d VALID, 3x3 kernel over a 2x2 input (the issue's geometry)",
     lambda: tf.nn.conv2d(t(1, 2, 2, 1), t(3, 3, 1, 1), 1, "VALID"), (1, 0, 0, 1)),
    ("conv2d VALID, 3x3 kernel over a 2x5 input (empty in H only)",
     lambda: tf.nn.conv2d(t(1, 2, 5, 2), t(3, 3, 2, 2), 1, "VALID"), (1, 0, 3, 2)),
    ("conv2d SAME, a batch of 0, 2 -> 3 channels",
     lambda: tf.nn.conv2d(t(0, 4, 4, 2), t(3, 3, 2, 3), 1, "SAME"), (0, 4, 4, 3)),
    ("conv1d VALID, 2-tap kernel dilated by 3 over 3 inputs",
     lambda: tf.nn.conv1d(t(1, 3, 2), t(2, 2, 2), 1, "VALID", dilations=3), (1, 0, 2)),
    ("conv3d VALID, 2x2x4 kernel over a 3x3x3 input",
     lambda: tf.nn.conv3d(t(1, 3, 3, 3, 1), t(2, 2, 4, 1, 1), [1] * 5, "VALID"),
     (1, 2, 2, 0, 1)),
]
wrong = 0
for what, thunk, right in checks:
    y = thunk()
    ok = tuple(y.shape) == right
    wrong += not ok
    print(f"{'ok   ' if ok else 'WRONG'} {what}: y shape {tuple(y.shape)}, expected {right}"
          + ("" if ok else f"; values {y.numpy().ravel()[:4]} ..."))

# A consequence: the gradient of tf.nn.conv1d (conv2d plus reshapes) then fails.
x, w = t(1, 3, 2), t(4, 2, 2)   # 4 taps over 3 inputs: y is (1, 0, 2)
with tf.GradientTape() as tape:
    tape.watch(w)
    y = tf.nn.conv1d(x, w, 1, "VALID")
try:
    dw = tape.gradient(y, w, output_gradients=tf.zeros((1, 0, 2)))
    print(f"ok    conv1d dw through tf.GradientTape: shape {tuple(dw.shape)} (its values are "
          "another bug: tf_conv_backprop_filter_empty_output_uninitialized.py)")
except tf.errors.InvalidArgumentError as exc:
    wrong += 1
    print("WRONG conv1d dw through tf.GradientTape raises", type(exc).__name__,
          str(exc).strip().splitlines()[0][:200])

print("bug reproduced" if wrong else "not reproduced")
sys.exit(1 if wrong else 0)
