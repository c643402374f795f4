"""A PyTorch model's convs in TensorFlow: torch pads each side of an axis by the
same amount, so the TF port splits the layer's total padding evenly."""
import tensorflow as tf

from harness.api import impl


def even_split(pads):
    return [[(b + a) // 2, (b + a) // 2] for b, a in pads]


def tf_layer(x, w, case):
    x = tf.pad(x, [[0, 0]] + even_split(case.pads) + [[0, 0]])
    s, d = list(case.strides), list(case.dilations)
    if case.rank == 1:
        return tf.nn.conv1d(x, w, stride=s, padding="VALID", dilations=d)
    if case.rank == 2:
        return tf.nn.conv2d(x, w, strides=s, padding="VALID", dilations=d)
    return tf.nn.conv3d(x, w, strides=[1, *s, 1], padding="VALID", dilations=[1, *d, 1])


IMPLS = [impl(tf_layer, framework="tensorflow", name="apart2.q17")]
