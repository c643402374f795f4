"""A correct TensorFlow port (conv 1-3 D, grouped convs split by hand)."""
import tensorflow as tf

from harness.api import impl

# tf.nn.convolution's 3-D gradient needs data_format spelled out (TF 2.21: without it,
# _Conv3DGrad reads a None data_format attribute)
DATA_FORMAT = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def pad_or_crop(x, pads):
    """Explicit [(before, after)] per spatial axis of a channels-last x; a negative pad crops."""
    grow = [[0, 0]] + [[max(b, 0), max(a, 0)] for b, a in pads] + [[0, 0]]
    x = tf.pad(x, grow)
    begin = [0] + [max(-b, 0) for b, _ in pads] + [0]
    size = [-1] + [x.shape[i + 1] - max(-b, 0) - max(-a, 0) for i, (b, a) in enumerate(pads)] + [-1]
    return tf.slice(x, begin, size)


def conv(x, w, case):
    x = pad_or_crop(x, case.pads)
    g = case.groups
    xs = tf.split(x, g, axis=-1) if g > 1 else [x]
    ws = tf.split(w, g, axis=-1) if g > 1 else [w]
    ys = [_conv(xi, wi, case) for xi, wi in zip(xs, ws)]
    return tf.concat(ys, axis=-1) if g > 1 else ys[0]


def _conv(x, w, case):
    if max(case.strides) == 1 or max(case.dilations) == 1:
        return tf.nn.convolution(x, w, strides=case.strides, padding="VALID",
                                 dilations=case.dilations, data_format=DATA_FORMAT[case.rank])
    return _strided_dilated(x, w, case)


def _strided_dilated(x, w, case):
    # tf.nn.convolution refuses strides and dilations together: dilate, then subsample
    y = tf.nn.convolution(x, w, strides=1, padding="VALID", dilations=case.dilations,
                          data_format=DATA_FORMAT[case.rank])
    index = (slice(None),) + tuple(slice(None, None, s) for s in case.strides) + (slice(None),)
    return y[index]


IMPLS = [impl(conv, framework="tensorflow", name="apart.ok_tf",
              ops={"conv1d", "conv2d", "conv3d"})]
