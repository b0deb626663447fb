"""Digits models: a plain CNN and a residual CNN built from `layers.ConvResidualBlock`."""

import keras

from apps.core.optimizers import scheduled_optimizer
from layers import ConvResidualBlock

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
# Batch-norm statistics settle within an epoch even on the small builtin set.
BN_MOMENTUM = 0.9
NUM_CLASSES = 10


def _stem(inputs, width):
    x = keras.layers.Normalization(mean=MNIST_MEAN, variance=MNIST_STD**2, name="normalize")(inputs)
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    return keras.layers.ReLU(name="stem_relu")(x)


def _head(x, config):
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    return keras.layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="probabilities")(x)


def _conv_bn_relu(x, filters, name):
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def build_cnn(config):
    """Plain VGG-style CNN: two conv stages with max-pooling, then a wider conv."""
    inputs = keras.Input((28, 28, 1), name="images")
    x = _stem(inputs, config.width)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = _conv_bn_relu(x, 2 * config.width, "stage2")
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = _conv_bn_relu(x, 4 * config.width, "stage3")
    return keras.Model(inputs, _head(x, config), name="digits_cnn")


def _pooled_stem(inputs, width):
    """ResNet's stem (conv, BN, ReLU, max-pool) with the pooling first: the same function
    wherever BN's scale is positive, with BN and ReLU on a quarter of the pixels."""
    x = keras.layers.Normalization(mean=MNIST_MEAN, variance=MNIST_STD**2, name="normalize")(inputs)
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(x)
    x = keras.layers.MaxPooling2D(name="stem_pool")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    return keras.layers.ReLU(name="stem_relu")(x)


def build_resnet(config):
    """Residual CNN: a pooled stem to 14×14, then residual stages at 14×14 and 7×7."""
    inputs = keras.Input((28, 28, 1), name="images")
    x = _pooled_stem(inputs, config.width)
    x = ConvResidualBlock(2 * config.width, momentum=BN_MOMENTUM, name="stage2")(x)
    x = ConvResidualBlock(4 * config.width, strides=2, momentum=BN_MOMENTUM, name="stage3")(x)
    return keras.Model(inputs, _head(x, config), name="digits_resnet")


BUILDERS = {"cnn": build_cnn, "resnet": build_resnet}


def compile_model(model, config, train_examples):
    model.compile(
        optimizer=scheduled_optimizer(config, train_examples),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def build_model(config, train_examples):
    """The compiled model that `config.model` names."""
    return compile_model(BUILDERS[config.model](config), config, train_examples)
