"""Standalone reproduction: TensorFlow's Conv2DBackpropFilter CRASHES the process
(SIGSEGV) when the output is empty, the padding explicit and the stride 2: a
5-tall kernel over a 2-tall input padded by 1 + 1, stride 2 in H, so
out_backprop is (1, 0, 3, 1). dw should be zeros of shape (5, 2, 1, 1).
With oneDNN on (the default on x86-64) and with TF_ENABLE_ONEDNN_OPTS=0 alike.
The forward (conv2d) and the input gradient run fine; stride 1 does not crash.

    python3 tf_conv_backprop_filter_empty_output_segfault.py     # exit 1: crashed

The op runs in a child process (this script again, with --child), so that the
crash can be reported. Shapes of the convgrad case
degenerate/strided-empty-output/larger-than-padded-input-dw.
"""
import os
import signal
import subprocess
import sys

import numpy as np
import tensorflow as tf

PADS = [[0, 0], [1, 1], [0, 0], [0, 0]]   # explicit, NHWC


def child(stride):
    x = tf.constant(np.random.default_rng(0).standard_normal((1, 2, 4, 1)).astype(np.float32))
    dw = tf.compat.v1.nn.conv2d_backprop_filter(x, [5, 2, 1, 1], tf.zeros((1, 0, 3, 1)),
                                                [1, stride, 1, 1], PADS)
    print(f"    dw shape {tuple(dw.shape)}, all zeros: {not np.any(dw.numpy())}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]))
        sys.exit(0)
    print("tensorflow", tf.__version__, "numpy", np.__version__,
          "TF_ENABLE_ONEDNN_OPTS =", os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: default)"))
    crashed = False
    for stride in (1, 2):
        print(f"conv2d_backprop_filter, explicit pads [[1, 1], [0, 0]], stride {stride} in H:",
              flush=True)
        rc = subprocess.run([sys.executable, __file__, "--child", str(stride)],
                            stderr=subprocess.DEVNULL).returncode
        if rc < 0:
            crashed = True
            print(f"    CRASHED: killed by {signal.Signals(-rc).name}")
        elif rc:
            print(f"    exit status {rc}")
    print("bug reproduced" if crashed else "not reproduced")
    sys.exit(1 if crashed else 0)
