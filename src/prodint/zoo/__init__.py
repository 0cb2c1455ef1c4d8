"""The zoo: classical layers as product interactions, exact against torch.

:func:`from_torch` converts torch modules (weights copied) to prodint modules whose
``expression`` is the product interaction they compute, with its ``self_interaction_order``.
"""

from prodint.zoo import attention, convolution, dense, encoder, gated, linear_attention, rnn
from prodint.zoo.attention import MultiheadAttention
from prodint.zoo.base import ExpressionLayer
from prodint.zoo.convolution import ConvNd, ConvTransposeNd
from prodint.zoo.dense import Dense
from prodint.zoo.encoder import TransformerEncoderLayer
from prodint.zoo.gated import GLU, Bilinear, SwiGLU
from prodint.zoo.linear_attention import LinearAttention
from prodint.zoo.registry import ZooModule, from_torch, register_converter, supported_types
from prodint.zoo.rnn import Recurrent

__all__ = [
    "GLU",
    "Bilinear",
    "ConvNd",
    "ConvTransposeNd",
    "Dense",
    "ExpressionLayer",
    "LinearAttention",
    "MultiheadAttention",
    "Recurrent",
    "SwiGLU",
    "TransformerEncoderLayer",
    "ZooModule",
    "attention",
    "convolution",
    "dense",
    "encoder",
    "from_torch",
    "gated",
    "linear_attention",
    "register_converter",
    "rnn",
    "supported_types",
]
