"""TensorFlow port of a torch model that padded explicitly: every padding mode as tf.pad."""
import tensorflow as tf

from harness.api import impl


def mode_pads(mode, k, d):
    total = d * (k - 1)
    small, large = total // 2, total - total // 2
    return (small, large) if mode == "SAME" else (large, small)     # SAME_LOWER: odd one first


def conv(x, w, case):
    if case.padding in ("SAME", "SAME_LOWER"):
        pads = [mode_pads(case.padding, k, d) for k, d in zip(w.shape[:2], case.dilations)]
    else:
        pads = case.pads
    x = tf.pad(x, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]])
    return tf.nn.conv2d(x, w, strides=list(case.strides), padding="VALID",
                        dilations=list(case.dilations))


IMPLS = [impl(conv, framework="tensorflow", name="apart.p07", ops={"conv2d"})]
