"""Transformer decoder block."""

import keras

from layers import _utils
from layers._transformer_base import TransformerBlockBase


@keras.saving.register_keras_serializable(package="kapps")
class TransformerDecoderBlock(TransformerBlockBase):
    """Transformer decoder block (Vaswani et al., 2017).

    Causal multi-head self-attention, then (when an encoder sequence is
    given) multi-head cross-attention to the encoder outputs, then a
    position-wise feed-forward network; each sub-block has dropout, a
    residual connection and layer normalization (post-norm by default,
    pre-norm with `norm_first=True`). Called without `encoder_sequence` it
    is a decoder-only (GPT-style) block. Whether cross-attention exists is
    decided by the first call (build) and must stay the same afterwards.

    Args:
        num_heads: int. Number of attention heads.
        intermediate_dim: int. Hidden size of the feed-forward network.
        dropout: float in [0, 1). Dropout on attention probabilities and on
            the residual branches (training only).
        norm_first: bool. Pre-norm if True, post-norm if False.
        activation: Activation of the feed-forward network.
        layer_norm_epsilon: float. Epsilon of the layer normalizations.
        key_dim: int or None. Size of each head; defaults to
            `features // num_heads`.
        kernel_initializer: Initializer for all kernels.
        bias_initializer: Initializer for all biases.
        seed: int or None. Seed for the dropouts.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        decoder_sequence: float tensor `(batch, target_length, features)`.
        encoder_sequence: optional float tensor `(batch, source_length,
            encoder_features)`.
        decoder_padding_mask: optional boolean `(batch, target_length)`.
            Defaults to the Keras mask of `decoder_sequence`.
        encoder_padding_mask: optional boolean `(batch, source_length)`.
            Defaults to the Keras mask of `encoder_sequence`.
        training: bool. Whether dropout is active.
        return_attention_scores: bool. Also return the self-attention
            probabilities `(batch, num_heads, target_length, target_length)`
            and, with an encoder, the cross-attention probabilities
            `(batch, num_heads, target_length, source_length)`.
        decoder_sequence_mask, encoder_sequence_mask, mask: filled in by
            Keras from the inputs' masks; pass the `*_padding_mask`
            arguments instead.

    Returns:
        Tensor `(batch, target_length, features)`; with scores, a tuple
        `(outputs, self_scores[, cross_scores])`.

    Example:

    >>> decoder = keras.ops.ones((2, 4, 16))
    >>> encoder = keras.ops.ones((2, 6, 16))
    >>> block = TransformerDecoderBlock(num_heads=2, intermediate_dim=32)
    >>> tuple(block(decoder, encoder).shape)
    (2, 4, 16)
    """

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        if len(decoder_sequence_shape) != 3:
            raise ValueError(
                "`TransformerDecoderBlock` expects a decoder sequence of shape "
                "(batch, length, features). Received: "
                f"decoder_sequence_shape={decoder_sequence_shape}"
            )
        hidden_dim = _utils.check_last_dim(type(self).__name__, decoder_sequence_shape)
        self.self_attention = self._self_attention(hidden_dim, True, "self_attention")
        self.self_attention.build(decoder_sequence_shape)
        self.self_attention_dropout = self._dropout("self_attention_dropout")
        self.self_attention_norm = self._layer_norm("self_attention_norm")
        self.self_attention_norm.build(decoder_sequence_shape)
        self.cross_attention = None
        if encoder_sequence_shape is not None:
            self.cross_attention = keras.layers.MultiHeadAttention(
                self.num_heads,
                self._head_dim(hidden_dim),
                dropout=self.dropout,
                seed=self.seed,
                dtype=self.dtype_policy,
                name="cross_attention",
                **self._initializers(),
            )
            self.cross_attention.build(decoder_sequence_shape, encoder_sequence_shape)
            self.cross_attention_dropout = self._dropout("cross_attention_dropout")
            self.cross_attention_norm = self._layer_norm("cross_attention_norm")
            self.cross_attention_norm.build(decoder_sequence_shape)
        self._build_feedforward(decoder_sequence_shape)
        self.built = True

    def _check_encoder(self, encoder_sequence):
        has_cross = self.cross_attention is not None
        if has_cross != (encoder_sequence is not None):
            raise ValueError(
                "`TransformerDecoderBlock` was built "
                f"{'with' if has_cross else 'without'} an encoder sequence "
                "and must be called the same way. Received: "
                f"encoder_sequence={encoder_sequence!r}"
            )

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        training=None,
        return_attention_scores=False,
        decoder_sequence_mask=None,
        encoder_sequence_mask=None,
        mask=None,
    ):
        self._check_encoder(encoder_sequence)
        decoder_mask = _first_not_none(decoder_padding_mask, decoder_sequence_mask, mask)
        encoder_mask = _first_not_none(encoder_padding_mask, encoder_sequence_mask)

        x, self_scores = self._self_attention_residual(
            decoder_sequence, decoder_mask, training, return_attention_scores
        )
        cross_scores = None
        if self.cross_attention is not None:

            def cross_attend(x):
                result = self.cross_attention(
                    x,
                    encoder_sequence,
                    value_mask=encoder_mask,
                    training=training,
                    return_attention_scores=return_attention_scores,
                )
                return result if return_attention_scores else (result, None)

            x, cross_scores = self._residual(
                x,
                self.cross_attention_norm,
                self.cross_attention_dropout,
                cross_attend,
                training,
            )
        outputs = self._feedforward(x, training)
        if not return_attention_scores:
            return outputs
        if cross_scores is None:
            return outputs, self_scores
        return outputs, self_scores, cross_scores

    def compute_mask(self, decoder_sequence, mask=None):
        return mask

    def compute_output_shape(self, decoder_sequence_shape, encoder_sequence_shape=None):
        return tuple(decoder_sequence_shape)

    def compute_output_spec(
        self,
        decoder_sequence,
        encoder_sequence=None,
        return_attention_scores=False,
        **kwargs,
    ):
        spec = keras.KerasTensor(decoder_sequence.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return spec
        batch, target = decoder_sequence.shape[0], decoder_sequence.shape[1]
        self_scores = keras.KerasTensor((batch, self.num_heads, target, target), dtype=self.compute_dtype)
        if encoder_sequence is None:
            return spec, self_scores
        cross_scores = keras.KerasTensor(
            (batch, self.num_heads, target, encoder_sequence.shape[1]),
            dtype=self.compute_dtype,
        )
        return spec, self_scores, cross_scores


def _first_not_none(*values):
    for value in values:
        if value is not None:
            return value
    return None
