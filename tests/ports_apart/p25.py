"""TensorFlow port of a torch model's Conv2d layers (stride given to torch as an int)."""
import tensorflow as tf

from harness.api import impl


def conv(x, w, case):
    (top, bottom), (left, right) = case.pads
    x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
    return tf.nn.conv2d(x, w, strides=case.strides[0], padding="VALID",
                        dilations=list(case.dilations))


IMPLS = [impl(conv, framework="tensorflow", name="apart.p25", ops={"conv2d"})]
