"""Reusable Keras 3 layers for the kapps application suite.

Every layer is written with `keras.ops` only, so it runs on the TensorFlow,
JAX and PyTorch backends, and is registered as serializable under the
`kapps` package so saved `.keras` models load without `custom_objects`.
"""

from layers.atrous_spatial_pyramid_pooling import AtrousSpatialPyramidPooling
from layers.bahdanau_attention import BahdanauAttention
from layers.bigram_embedding import BigramEmbedding
from layers.bottleneck_block import BottleneckBlock
from layers.conv_residual_block import ConvResidualBlock
from layers.conv_residual_block_1d import ConvResidualBlock1D
from layers.dense_residual_block import DenseResidualBlock
from layers.feature_pyramid import FeaturePyramid
from layers.inverted_residual_block import InvertedResidualBlock
from layers.luong_attention import LuongAttention
from layers.masked_chunk_pooling import MaskedChunkPooling
from layers.masked_mean_max_pooling import MaskedMeanMaxPooling
from layers.multi_head_self_attention import MultiHeadSelfAttention
from layers.piecewise_linear_encoding import PiecewiseLinearEncoding, quantile_bin_edges
from layers.position_embedding import PositionEmbedding
from layers.rotary_embedding import RotaryEmbedding
from layers.sinusoidal_position_encoding import SinusoidalPositionEncoding
from layers.token_and_position_embedding import TokenAndPositionEmbedding
from layers.transformer_decoder_block import TransformerDecoderBlock
from layers.transformer_encoder_block import TransformerEncoderBlock

__all__ = [
    "AtrousSpatialPyramidPooling",
    "BahdanauAttention",
    "BigramEmbedding",
    "BottleneckBlock",
    "ConvResidualBlock",
    "ConvResidualBlock1D",
    "DenseResidualBlock",
    "FeaturePyramid",
    "InvertedResidualBlock",
    "LuongAttention",
    "MaskedChunkPooling",
    "MaskedMeanMaxPooling",
    "MultiHeadSelfAttention",
    "PiecewiseLinearEncoding",
    "PositionEmbedding",
    "RotaryEmbedding",
    "SinusoidalPositionEncoding",
    "TokenAndPositionEmbedding",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "quantile_bin_edges",
]
