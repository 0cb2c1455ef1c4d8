"""Torch modules built from product interactions.

- :class:`~prodint.interaction.InteractionLayer`: any interaction expression as a module
  (:func:`prodint.interaction.compile`); the layer contract every module here follows.
- :class:`ProductLinear`: the order-1 multiplication operator over an algebra (complex,
  quaternion, Clifford, group-algebra linear layers).
- :class:`TensorAttention`, :class:`DTNBlock`, :class:`DTN`: the Deep Tensor Network (order-5
  token mixing that trains chunked and streams in constant memory).
- :class:`StackedLM`: the language-model skeleton (embedding, blocks, norm, tied head) the DTN
  and :class:`SoftmaxLM` (the same model with softmax attention) are built on.

Every constructor and call checks its arguments first (:mod:`prodint.checks`; the layers'
own checks in :mod:`prodint.nn.dtn.checks`).
"""

from prodint.nn.dtn import DTN, DTNBlock, TensorAttention
from prodint.nn.product_linear import ProductLinear
from prodint.nn.softmax_lm import SoftmaxLM
from prodint.nn.stacked_lm import StackedLM, StackedLMDecoder

__all__ = ["DTN", "DTNBlock", "ProductLinear", "SoftmaxLM", "StackedLM", "StackedLMDecoder",
           "TensorAttention"]
