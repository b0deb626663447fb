"""Piecewise linear encoding of a number (Gorishniy et al., 2022)."""

import keras
import numpy as np
from keras import ops


def quantile_bin_edges(values, num_bins):
    """Bin edges at the quantiles of `values` (NaN ignored, repeated edges merged).

    Returns a sorted list of at most `num_bins + 1` distinct floats; fewer when
    the values take few distinct values (e.g. counts), and an empty list when
    they hold fewer than two distinct values.
    """
    values = np.asarray(values, dtype="float64").reshape(-1)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return []
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, int(num_bins) + 1)))
    return [float(edge) for edge in edges] if edges.size >= 2 else []


@keras.saving.register_keras_serializable(package="kapps")
class PiecewiseLinearEncoding(keras.layers.Layer):
    """Piecewise linear encoding of one numeric feature ("PLE", Gorishniy et al. 2022).

    With bin edges `b_0 < b_1 < ... < b_T`, the value `x` becomes `T` numbers;
    component `t` is how far `x` has gone through bin `t`:
    `e_t = clip((x - b_{t-1}) / (b_t - b_{t-1}), 0, 1)`, except that the first
    component is not clipped below and the last not clipped above, so values
    outside the edges extrapolate linearly. A linear function of the encoding is
    any continuous piecewise linear function of `x` with knots at the edges (a
    linear spline), which is what lets a linear or shallow model follow
    non-monotonic effects such as churn against tenure. One-hot bins give a step
    function instead and lose the order inside a bin.

    Args:
        bin_edges: increasing list of at least two floats, typically the
            training split's quantiles (`quantile_bin_edges(values, 8)`).
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor of shape `(..., 1)`. A Keras mask passes through
            unchanged (each step is encoded on its own).

    Returns:
        Tensor of shape `(..., len(bin_edges) - 1)`.

    Example:

    >>> layer = PiecewiseLinearEncoding([0.0, 1.0, 3.0])
    >>> keras.ops.convert_to_numpy(layer(np.array([[0.5], [2.0], [4.0]])))
    array([[0.5, 0. ],
           [1. , 0.5],
           [1. , 1.5]], dtype=float32)
    """

    def __init__(self, bin_edges, **kwargs):
        super().__init__(**kwargs)
        self.bin_edges = self._checked_edges(bin_edges)
        self.supports_masking = True

    @staticmethod
    def _checked_edges(bin_edges):
        edges = [float(edge) for edge in bin_edges]
        if (
            len(edges) < 2
            or any(not np.isfinite(edge) for edge in edges)
            or any(right <= left for left, right in zip(edges, edges[1:]))
        ):
            raise ValueError(
                "`bin_edges` must be at least two finite, strictly increasing numbers. "
                f"Received: bin_edges={bin_edges!r}"
            )
        return edges

    @property
    def num_bins(self):
        return len(self.bin_edges) - 1

    def build(self, input_shape):
        if input_shape[-1] != 1:
            raise ValueError(
                "`PiecewiseLinearEncoding` encodes one feature: inputs must have shape (..., 1). "
                f"Received: input_shape={input_shape}"
            )
        self.built = True

    def call(self, inputs):
        edges = np.asarray(self.bin_edges, dtype="float64")
        left, width = edges[:-1], np.diff(edges)
        lower = np.zeros(self.num_bins)
        upper = np.ones(self.num_bins)
        lower[0], upper[-1] = -np.inf, np.inf
        dtype = self.compute_dtype
        progress = (ops.cast(inputs, dtype) - ops.convert_to_tensor(left, dtype)) / ops.convert_to_tensor(width, dtype)
        return ops.minimum(
            ops.maximum(progress, ops.convert_to_tensor(lower, dtype)), ops.convert_to_tensor(upper, dtype)
        )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_bins,)

    def get_config(self):
        config = super().get_config()
        config.update({"bin_edges": list(self.bin_edges)})
        return config
