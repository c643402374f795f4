"""Small models for `convgrad cases-from` tests: every conv layer kind once."""


def torch_model():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=4), nn.ReLU(),            # grouped
        nn.Conv2d(8, 8, 3, padding="same", groups=8), nn.ReLU(),       # depthwise
        nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1))


def keras_model():
    import keras

    inputs = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(h)
    h = keras.layers.SeparableConv2D(6, 3, strides=2, padding="valid")(h)
    h = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same")(h)
    h = keras.layers.Conv2D(4, 2, padding="valid", groups=2, dilation_rate=2)(h)
    return keras.Model(inputs, h, name="small_keras")
