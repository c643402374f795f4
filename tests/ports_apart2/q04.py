"""The PyTorch super-resolution net, rebuilt in TensorFlow for TF Serving.

torch layers were read from a config that lists (height, width) pairs; TF
wants them inside NHWC-shaped lists.
"""
import tensorflow as tf

from harness.api import impl


def tf_conv(x, w, case):
    rank = case.rank
    pads = [[0, 0]] + [list(p) for p in case.pads] + [[0, 0]]
    x = tf.pad(x, pads)
    strides = list(case.strides)
    dilations = list(case.dilations)[::-1]   # (w, h) order of the exported config
    if rank == 1:
        return tf.nn.conv1d(x, w, stride=strides, padding="VALID", dilations=dilations)
    if rank == 2:
        return tf.nn.conv2d(x, w, strides=[1, *strides, 1], padding="VALID",
                            dilations=[1, *dilations, 1])
    return tf.nn.conv3d(x, w, strides=[1, *strides, 1], padding="VALID",
                        dilations=[1, *dilations, 1])


IMPLS = [impl(tf_conv, framework="tensorflow", name="apart2.q04")]
