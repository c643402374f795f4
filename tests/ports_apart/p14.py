"""TensorFlow port: pads applied with tf.pad, then a VALID tf.nn.conv2d."""
import tensorflow as tf

from harness.api import impl


def conv(x, w, case):
    (top, bottom), (left, right) = case.pads
    x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
    return tf.nn.conv2d(x, w, strides=[1, *case.strides, 1], padding="VALID")


IMPLS = [impl(conv, framework="tensorflow", name="apart.p14", ops={"conv2d"})]
