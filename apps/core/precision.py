"""Mixed precision and XLA compilation, through Keras' own switches, for every app.

`--mixed-precision` builds the model under Keras' `mixed_float16` dtype policy on a
GPU (the optimizer then scales the loss, as `Model.compile` does for that policy) or
`mixed_bfloat16` elsewhere: variables stay float32, computations run in 16 bits.
Every app ends its model with a float32 layer, so losses, metrics, the decode step
and the served outputs stay float32. `--jit-compile on|off` sets `Model.jit_compile`
(`auto`, the default, is Keras' choice: XLA where every layer supports it).
"""

JIT_CHOICES = ("auto", "on", "off")


def has_gpu():
    """Whether the active Keras backend sees a GPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def dtype_policy(config):
    """The Keras dtype policy name `config` asks for."""
    if not config.mixed_precision:
        return "float32"
    return "mixed_float16" if has_gpu() else "mixed_bfloat16"


def build_with_precision(build, config):
    """`build()` (an app's `build_model`) under `config`'s dtype policy, then its jit setting."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype_policy(config))
    try:
        model = build()
    finally:
        keras.config.set_dtype_policy(previous)
    if config.jit_compile != "auto":
        model.jit_compile = config.jit_compile == "on"
    return model
