"""Deep Tensor Network modules: tensor attention, tensor interaction, the block, the model.

- :class:`TensorAttention`: multi-head second-order tensor attention (order 5) with decay,
  normalisation and per-head RMS norm, all stated in its expression
  (:mod:`prodint.nn.dtn.attention`);
- :class:`TensorInteraction`: multi-head channel mixing by ``M = QᵀK`` (order 5,
  :mod:`prodint.nn.dtn.interaction`);
- :class:`DTNBlock`: the pre-norm residual block (:mod:`prodint.nn.dtn.block`);
- :class:`DTN`: the character-level language model (:mod:`prodint.nn.dtn.model`).

Each is an :class:`~prodint.interaction.layer.InteractionLayer`: ``forward`` runs the chunked
and recurrent kernels of :mod:`prodint.ops`, ``general`` the compiled expression,
``reference`` the expression node by node, ``oracle`` the operators' naive forms; the
sequence modules stream with ``prefill(x) -> (y, state)`` and ``step(x_t, state) ->
(y_t, state)`` in constant memory, and a block decodes token by token through
:class:`DTNBlockDecoder` (its state checked once, :mod:`prodint.nn.dtn.decode`). The block
and the model are composites
(:class:`~prodint.interaction.composite.CompositeLayer`): one expression over their parts,
whose orders are derived, with the parameters kept by the parts (``blocks.0.attention.params.
Wq`` in a state dict).
"""

from prodint.nn.dtn.attention import TensorAttention, tensor_attention_expression
from prodint.nn.dtn.block import DTNBlock, DTNBlockState
from prodint.nn.dtn.decode import DTNBlockDecoder
from prodint.nn.dtn.interaction import TensorInteraction, tensor_interaction_expression
from prodint.nn.dtn.model import DTN

__all__ = [
    "DTN",
    "DTNBlock",
    "DTNBlockDecoder",
    "DTNBlockState",
    "TensorAttention",
    "TensorInteraction",
    "tensor_attention_expression",
    "tensor_interaction_expression",
]
