"""Torch modules built from product interactions.

- :class:`~prodint.interaction.InteractionLayer`: any interaction expression as a module
  (:func:`prodint.interaction.compile`); the layer contract every module here follows.
- :class:`ProductLinear`: the order-1 multiplication operator over an algebra (complex,
  quaternion, Clifford, group-algebra linear layers).
- :class:`TensorAttention`, :class:`DTNBlock`, :class:`DTN`: the Deep Tensor Network (order-5
  token mixing that trains chunked and streams in constant memory).
"""

from prodint.nn.dtn import DTN, DTNBlock, TensorAttention
from prodint.nn.product_linear import ProductLinear

__all__ = ["DTN", "DTNBlock", "ProductLinear", "TensorAttention"]
