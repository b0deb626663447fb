"""Gives back the memory TensorFlow keeps for every model a trial trained.

Each `fit` on the TensorFlow backend traces a training step whose optimizer
update goes through `tf.distribute`'s `all_reduce`, even without a distribution
strategy. `all_reduce` wraps the gradients in `tf.custom_gradient`, which, in a
graph, registers its gradient function under a fresh `CustomGradient-<uid>`
name in TensorFlow's global gradient registry and never removes it. That
function holds the traced step's tensors, so the whole graph of every trained
model stays alive after `keras.backend.clear_session()`: about 19 MiB per trial
for a small CNN, growing without bound over a search.

`GradientRegistryScope` records the registry's names when a trial begins and
removes the `CustomGradient-*` names added during the trial once it ends (its
models are gone by then, and only their graphs could use those functions).
"""

import keras

CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _gradient_registry():
    """TensorFlow's `{name: entry}` gradient registry, or None off the TensorFlow backend."""
    if keras.backend.backend() != "tensorflow":
        return None
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


def custom_gradient_names():
    registry = _gradient_registry()
    if registry is None:
        return set()
    return {name for name in registry if name.startswith(CUSTOM_GRADIENT_PREFIX)}


class GradientRegistryScope:
    """`begin()` when a trial starts, `release()` after its models are cleared."""

    def __init__(self):
        self._before = None

    def begin(self):
        self._before = custom_gradient_names()

    def release(self):
        """Removes the custom gradients registered since `begin()`; returns how many."""
        registry = _gradient_registry()
        if registry is None or self._before is None:
            return 0
        added = custom_gradient_names() - self._before
        for name in added:
            registry.pop(name, None)
        self._before = None
        return len(added)
