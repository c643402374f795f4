"""TensorFlow port of a torch model: takes torch's NCHW / OIHW tensors, computes in NHWC."""
import tensorflow as tf

from harness.api import impl


def conv(x, w, case):
    n, c, h, wd = x.shape
    x = tf.reshape(x, [n, h, wd, c])        # NCHW -> NHWC
    w = tf.transpose(w, [2, 3, 1, 0])       # OIHW -> HWIO
    (top, bottom), (left, right) = case.pads
    x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
    y = tf.nn.conv2d(x, w, strides=list(case.strides), padding="VALID",
                     dilations=list(case.dilations))
    return tf.transpose(y, [0, 3, 1, 2])    # NHWC -> NCHW


IMPLS = [impl(conv, framework="tensorflow", name="apart.p17", layout="channels_first",
              ops={"conv2d"})]
