"""What a SavedModel's serving signatures take and return, in words (for model cards and docs)."""


def describe_signatures(functions):
    """`{name: {"inputs": [...], "outputs": [...]}}` of traced serving tf.functions, each
    tensor as `name: dtype [shape]` (-1 for a size that varies)."""
    import tensorflow as tf

    described = {}
    for name, function in functions.items():
        concrete = function.get_concrete_function()
        inputs = tf.nest.flatten(concrete.structured_input_signature)
        outputs = concrete.structured_outputs
        described[name] = {
            "inputs": [_tensor_text(spec.name, spec) for spec in inputs],
            "outputs": [_tensor_text(key, outputs[key]) for key in sorted(outputs)],
        }
    return described


def _tensor_text(name, tensor):
    shape = ", ".join("-1" if size is None else str(size) for size in tensor.shape.as_list())
    return f"{name}: {tensor.dtype.name} [{shape}]"
