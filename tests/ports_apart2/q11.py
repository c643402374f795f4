"""TensorFlow re-implementation of a PyTorch model's convs (for TFLite export).

tf.nn.conv*d only knows "SAME"/"VALID" for 3-D, so every layer pads with
tf.pad and runs VALID; geometry comes from the torch module's attributes.
"""
import tensorflow as tf

from harness.api import impl


def _nhwc_list(values):
    # torch stores spatial tuples fastest-axis-first in our export script
    return [1, *reversed(list(values)), 1]


def exported_conv(x, w, case):
    x = tf.pad(x, [[0, 0], *[[b, a] for b, a in case.pads], [0, 0]])
    dil = list(case.dilations)
    if case.rank == 1:
        return tf.nn.conv1d(x, w, stride=_nhwc_list(case.strides), padding="VALID",
                            dilations=dil)
    if case.rank == 2:
        return tf.nn.conv2d(x, w, strides=_nhwc_list(case.strides), padding="VALID",
                            dilations=[1, *dil, 1])
    return tf.nn.conv3d(x, w, strides=_nhwc_list(case.strides), padding="VALID",
                        dilations=[1, *dil, 1])


IMPLS = [impl(exported_conv, framework="tensorflow", name="apart2.q11")]
