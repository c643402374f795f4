"""Standalone reproduction: TensorFlow's conv backprop-filter kernels return
UNINITIALIZED MEMORY as dw when the output is empty (the kernel is larger than
the input), instead of zeros (no output element touches any weight).

Hit by the stock (Eigen) kernels: Conv2DBackpropFilter and
Conv3DBackpropFilterV2 with TF_ENABLE_ONEDNN_OPTS=0, and, with oneDNN on,
conv2d_backprop_filter with explicit padding (which oneDNN hands to the stock
kernel). What comes back is whatever the allocator's buffer held: a freed
buffer of the same size is filled with 7.0 first to make that visible (without
it the garbage is intermittent, sometimes all zeros).

    TF_ENABLE_ONEDNN_OPTS=0 python3 tf_conv_backprop_filter_empty_output_uninitialized.py
    python3 tf_conv_backprop_filter_empty_output_uninitialized.py   # explicit padding only

Exit 1 when any dw is not all zeros. Shapes of the convgrad cases
cases/degenerate/degenerate.yaml (degenerate/empty-output/*).
"""
import os
import sys

import numpy as np
import tensorflow as tf

print("tensorflow", tf.__version__, "numpy", np.__version__,
      "TF_ENABLE_ONEDNN_OPTS =", os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: default)"))
rng = np.random.default_rng(0)
RUNS = 20


def t(*shape):
    return tf.constant(rng.standard_normal(shape).astype(np.float32))


def garbage_runs(op, filter_shape):
    """How many of RUNS results are not all zeros, and the largest |value| seen."""
    bad, largest = 0, 0.0
    for _ in range(RUNS):
        stale = tf.fill(filter_shape, 7.0) + 0.0   # a buffer of dw's size, freed next line
        del stale
        dw = op().numpy()
        bad += bool(np.any(dw != 0))
        largest = max(largest, float(np.nanmax(np.abs(dw))) if dw.size else 0.0)
    return bad, largest


x2, x3 = t(1, 2, 5, 2), t(1, 3, 3, 3, 1)
checks = [
    ("Conv2DBackpropFilter VALID, 3x3 kernel over 2x5 (dy 1x0x3x2)",
     lambda: tf.raw_ops.Conv2DBackpropFilter(
         input=x2, filter_sizes=[3, 3, 2, 2], out_backprop=tf.zeros((1, 0, 3, 2)),
         strides=[1, 1, 1, 1], padding="VALID"), (3, 3, 2, 2)),
    ("conv2d_backprop_filter explicit pads [[1,1],[0,0]], 5x2 kernel over 2x4 (dy 1x0x3x1)",
     lambda: tf.compat.v1.nn.conv2d_backprop_filter(
         t(1, 2, 4, 1), [5, 2, 1, 1], tf.zeros((1, 0, 3, 1)), [1, 1, 1, 1],
         [[0, 0], [1, 1], [0, 0], [0, 0]]), (5, 2, 1, 1)),
    ("Conv3DBackpropFilterV2 VALID, 2x2x4 kernel over 3x3x3 (dy 1x2x2x0x1)",
     lambda: tf.raw_ops.Conv3DBackpropFilterV2(
         input=x3, filter_sizes=[2, 2, 4, 1, 1], out_backprop=tf.zeros((1, 2, 2, 0, 1)),
         strides=[1] * 5, padding="VALID"), (2, 2, 4, 1, 1)),
]
wrong = 0
for what, op, shape in checks:
    bad, largest = garbage_runs(op, shape)
    wrong += bad
    print(f"{'WRONG' if bad else 'ok   '} {what}: {bad} of {RUNS} dw not all zeros"
          + (f" (largest |dw| {largest:.3g})" if bad else ""))

print("bug reproduced" if wrong else "not reproduced")
sys.exit(1 if wrong else 0)
