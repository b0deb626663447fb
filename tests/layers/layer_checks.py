"""Shared checks that every layer in `layers/` goes through.

A test module describes its layer with a `LayerSpec` and subclasses
`StandardLayerChecks`; pytest then collects the same battery of tests for
every layer on whichever backend `KERAS_BACKEND` selects:

* config round trip (and every constructor argument kept in the config),
* symbolic and eager call shapes (and `compute_output_shape`),
* Keras mask propagation through a Functional model,
* one training step that changes every trainable weight,
* `mixed_float16` / `mixed_bfloat16` policies,
* `.keras` save -> load (no `custom_objects`) -> identical outputs,
* SavedModel export (TensorFlow backend only).
"""

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest
from keras import ops

BACKEND = keras.backend.backend()
BATCH = 2


@dataclasses.dataclass
class InputSpec:
    """One input tensor: full shape (batch first) and dtype.

    `padded_steps` > 0 pads the last steps of the second sample with zeros
    (that is what makes a mask through `Masking` or `mask_zero`).
    """

    shape: tuple
    dtype: str = "float32"
    int_high: int = 10
    padded_steps: int = 0


@dataclasses.dataclass
class LayerSpec:
    cls: type
    init_kwargs: dict
    inputs: list  # of InputSpec
    expected_output_shape: tuple
    # "single": layer(x); "list": layer([x1, x2]); "args": layer(x1, x2)
    call_style: str = "single"
    call_kwargs: dict = dataclasses.field(default_factory=dict)
    # Mask handling: None (no mask test), "masking" (a Masking layer makes
    # the mask from zero steps), "own" (the layer makes its own mask).
    mask_source: Any = None
    # Maps the list of input masks (numpy bool) to the expected output mask.
    expected_mask: Callable = None
    # Names (substrings) of trainable weights allowed not to change.
    may_not_train: tuple = ()
    has_weights: bool = True
    mixed_tolerance: float = 0.1


def make_inputs(spec, seed=0):
    rng = np.random.default_rng(seed)
    arrays = []
    for inp in spec.inputs:
        if inp.dtype.startswith("int"):
            x = rng.integers(1, inp.int_high, size=inp.shape).astype(inp.dtype)
        else:
            x = rng.normal(size=inp.shape).astype(inp.dtype)
        if inp.padded_steps:
            x[1, -inp.padded_steps :] = 0
        arrays.append(x)
    return arrays


def input_masks(spec):
    masks = []
    for inp in spec.inputs:
        mask = np.ones(inp.shape[:2], dtype=bool)
        if inp.padded_steps:
            mask[1, -inp.padded_steps :] = False
        masks.append(mask)
    return masks


def call_layer(spec, layer, xs, **kwargs):
    kwargs = {**spec.call_kwargs, **kwargs}
    if spec.call_style == "single":
        return layer(xs[0], **kwargs)
    if spec.call_style == "list":
        return layer(list(xs), **kwargs)
    return layer(*xs, **kwargs)


def symbolic_inputs(spec):
    return [keras.Input(shape=inp.shape[1:], dtype=inp.dtype) for inp in spec.inputs]


def build_model(spec, layer, with_masking=False):
    inputs = symbolic_inputs(spec)
    xs = inputs
    if with_masking and spec.mask_source == "masking":
        xs = [keras.layers.Masking(0.0)(x) for x in inputs]
    outputs = call_layer(spec, layer, xs)
    return keras.Model(unwrap(inputs), outputs)


def unwrap(values):
    """A single-input model takes a tensor, a multi-input one a list."""
    return values[0] if len(values) == 1 else list(values)


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def as_list(outputs):
    """A layer's outputs as a list: one tensor, or the list a multi-output layer returns."""
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def expected_shapes(spec):
    """`expected_output_shape` as a list of shapes (a list of tuples for multi-output layers)."""
    shape = spec.expected_output_shape
    return [tuple(item) for item in shape] if shape and isinstance(shape[0], (list, tuple)) else [tuple(shape)]


@keras.saving.register_keras_serializable(package="kapps_tests")
class MaskToTensor(keras.layers.Layer):
    """Test utility: outputs the incoming Keras mask as a float tensor."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.ones(ops.shape(inputs)[:2])
        return ops.cast(mask, "float32")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2])


def assert_close(a, b, atol=1e-5, rtol=1e-5):
    assert len(as_list(a)) == len(as_list(b))
    for got, want in zip(as_list(a), as_list(b)):
        np.testing.assert_allclose(
            to_numpy(got).astype("float32"),
            to_numpy(want).astype("float32"),
            atol=atol,
            rtol=rtol,
        )


def constructor_arg_names(cls):
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


class StandardLayerChecks:
    """Mixin with the standard battery; subclasses set `spec`."""

    spec: LayerSpec = None

    def make_layer(self, **overrides):
        keras.utils.set_random_seed(0)
        return self.spec.cls(**{**self.spec.init_kwargs, **overrides})

    # -- config -------------------------------------------------------------
    def test_config_round_trip(self):
        layer = self.make_layer()
        config = layer.get_config()
        for name in constructor_arg_names(self.spec.cls):
            assert name in config, f"`{name}` missing from get_config()"
            assert hasattr(layer, name), f"`{name}` not kept as an attribute"
        clone = self.spec.cls.from_config(config)
        assert clone.get_config() == config
        serialized = keras.saving.serialize_keras_object(layer)
        revived = keras.saving.deserialize_keras_object(serialized)
        assert type(revived) is self.spec.cls
        assert revived.get_config() == config

    # -- shapes -------------------------------------------------------------
    def test_symbolic_call_shape(self):
        layer = self.make_layer()
        outputs = as_list(call_layer(self.spec, layer, symbolic_inputs(self.spec)))
        shapes = expected_shapes(self.spec)
        assert len(outputs) == len(shapes)
        for output, shape in zip(outputs, shapes):
            assert tuple(output.shape) == (None,) + shape[1:]
            assert output.dtype == layer.compute_dtype

    def test_eager_call_shape(self):
        layer = self.make_layer()
        outputs = as_list(call_layer(self.spec, layer, make_inputs(self.spec)))
        expected = expected_shapes(self.spec)
        assert [tuple(output.shape) for output in outputs] == expected
        assert all(np.all(np.isfinite(to_numpy(output))) for output in outputs)
        shapes = [inp.shape for inp in self.spec.inputs]
        if self.spec.call_style == "list":
            computed = layer.compute_output_shape(shapes)
        else:
            computed = layer.compute_output_shape(*shapes)
        if len(expected) == 1:
            computed = [computed]
        assert [tuple(shape) for shape in computed] == expected

    # -- masking ------------------------------------------------------------
    def test_mask_propagation(self):
        if self.spec.mask_source is None:
            pytest.skip("layer has no mask semantics")
        layer = self.make_layer()
        inputs = symbolic_inputs(self.spec)
        xs = inputs
        if self.spec.mask_source == "masking":
            xs = [keras.layers.Masking(0.0)(x) for x in inputs]
        outputs = call_layer(self.spec, layer, xs)
        model = keras.Model(unwrap(inputs), MaskToTensor()(outputs))
        got = to_numpy(model(unwrap(make_inputs(self.spec))))
        expected_fn = self.spec.expected_mask or (lambda masks: masks[0])
        expected = expected_fn(input_masks(self.spec)).astype("float32")
        np.testing.assert_array_equal(got, expected)

    # -- training -----------------------------------------------------------
    def test_training_step_changes_weights(self):
        layer = self.make_layer()
        model = build_model(self.spec, layer, with_masking=True)
        xs = unwrap(make_inputs(self.spec))
        targets = [
            np.random.default_rng(1).normal(size=shape).astype("float32") for shape in expected_shapes(self.spec)
        ]
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss="mse",
            jit_compile=BACKEND == "jax",
        )
        before = {w.path: to_numpy(w).copy() for w in layer.trainable_weights}
        loss = model.train_on_batch(xs, targets[0] if len(targets) == 1 else targets)
        assert np.all(np.isfinite(loss))
        if not self.spec.has_weights:
            assert not layer.weights
            return
        assert before, "layer has no trainable weights"
        for w in layer.trainable_weights:
            if any(name in w.path for name in self.spec.may_not_train):
                continue
            assert not np.allclose(before[w.path], to_numpy(w)), f"weight {w.path} did not change after a training step"

    # -- mixed precision ----------------------------------------------------
    @pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
    def test_mixed_precision(self, policy):
        xs = make_inputs(self.spec)
        reference = self.make_layer()
        expected = call_layer(self.spec, reference, xs)
        layer = self.make_layer(dtype=policy)
        call_layer(self.spec, layer, xs)  # build
        layer.set_weights(reference.get_weights())
        outputs = call_layer(self.spec, layer, xs)
        compute_dtype = keras.DTypePolicy(policy).compute_dtype
        for output in as_list(outputs):
            assert keras.backend.standardize_dtype(output.dtype) == compute_dtype
        for w in layer.weights:
            if keras.backend.is_float_dtype(w.dtype):
                assert w.dtype == "float32", w.path
        tol = self.spec.mixed_tolerance
        assert_close(outputs, expected, atol=tol, rtol=tol)

    # -- serialization ------------------------------------------------------
    def test_keras_save_and_load(self, tmp_path):
        model = build_model(self.spec, self.make_layer(), with_masking=True)
        xs = unwrap(make_inputs(self.spec))
        expected = model(xs)
        path = str(tmp_path / "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path)  # no custom_objects
        restored_layer = restored.get_layer(model.layers[-1].name)
        assert type(restored_layer) is self.spec.cls
        assert_close(restored(xs), expected, atol=1e-6, rtol=1e-6)

    def test_saved_model_export(self, tmp_path):
        if BACKEND != "tensorflow":
            pytest.skip("SavedModel export is checked on TensorFlow")
        import tensorflow as tf

        model = build_model(self.spec, self.make_layer(), with_masking=True)
        xs = unwrap(make_inputs(self.spec))
        expected = model(xs)
        path = str(tmp_path / "exported")
        model.export(path, format="tf_saved_model", verbose=False)
        reloaded = tf.saved_model.load(path)
        assert_close(reloaded.serve(xs), expected, atol=1e-5, rtol=1e-5)


def check_invalid_argument(cls, kwargs, fragment):
    """The constructor rejects `kwargs` and names the received value."""
    with pytest.raises(ValueError, match=fragment):
        cls(**kwargs)
