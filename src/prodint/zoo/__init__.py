"""The zoo: classical layers as product interactions, exact against torch.

Every zoo layer follows the layer contract (:class:`InteractionLayer`, stated as the protocol
:class:`ZooModule`): ``expression`` is the product interaction it computes, with its derived
``self_interaction_order``; ``forward`` is the fast path (torch's kernels where they exist),
``general`` the compiled expression, ``reference`` the node-by-node evaluation and ``oracle``
an independent implementation where there is one, all with ``forward``'s arguments and
results. :func:`from_torch` converts torch modules (weights copied) to such layers.

>>> from torch import nn
>>> from prodint.zoo import from_torch
>>> layer = from_torch(nn.Linear(3, 2))
>>> print(layer.expression)
(Σ_c (X W) + b)
>>> layer.self_interaction_order
1
"""

from prodint.interaction.layer import InteractionLayer
from prodint.zoo import (
    attention,
    clifford,
    clifford_peer,
    convolution,
    dense,
    encoder,
    gated,
    group_conv,
    linear_attention,
    mamba,
    recurrent,
)
from prodint.zoo.attention import MultiheadAttention
from prodint.zoo.clifford import (
    CliffordConv1d,
    CliffordConv2d,
    CliffordConv3d,
    CliffordLinear,
    clifford_algebra,
)
from prodint.zoo.clifford_peer import from_cliffordlayers
from prodint.zoo.convolution import ConvNd, ConvTransposeNd
from prodint.zoo.dense import Dense
from prodint.zoo.encoder import TransformerEncoderLayer
from prodint.zoo.gated import GLU, Bilinear, SwiGLU
from prodint.zoo.group_conv import (
    GRID_GROUPS,
    GroupConv2d,
    LiftingConv2d,
    grid_group,
    transform_grid,
)
from prodint.zoo.linear_attention import LinearAttention
from prodint.zoo.mamba import MambaBlock, from_mambapy
from prodint.zoo.recurrent import GRU, LSTM, ElmanRNN, RecurrentLayer
from prodint.zoo.registry import ZooModule, from_torch, register_converter, supported_types

__all__ = [
    "GLU",
    "GRID_GROUPS",
    "GRU",
    "LSTM",
    "Bilinear",
    "CliffordConv1d",
    "CliffordConv2d",
    "CliffordConv3d",
    "CliffordLinear",
    "ConvNd",
    "ConvTransposeNd",
    "Dense",
    "ElmanRNN",
    "GroupConv2d",
    "InteractionLayer",
    "LiftingConv2d",
    "LinearAttention",
    "MambaBlock",
    "MultiheadAttention",
    "RecurrentLayer",
    "SwiGLU",
    "TransformerEncoderLayer",
    "ZooModule",
    "attention",
    "clifford",
    "clifford_algebra",
    "clifford_peer",
    "convolution",
    "dense",
    "encoder",
    "from_cliffordlayers",
    "from_mambapy",
    "from_torch",
    "gated",
    "grid_group",
    "group_conv",
    "linear_attention",
    "mamba",
    "recurrent",
    "register_converter",
    "supported_types",
    "transform_grid",
]
