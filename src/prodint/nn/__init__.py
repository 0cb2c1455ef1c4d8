"""Torch modules built from product interactions.

- :class:`CompiledInteraction`: any interaction expression as a module
  (:func:`prodint.interaction.compile`).
- :class:`ProductLinear`: the order-1 multiplication operator over an algebra (complex,
  quaternion, Clifford, group-algebra linear layers).
"""

from prodint.interaction.compile import CompiledInteraction
from prodint.nn.product_linear import ProductLinear

__all__ = ["CompiledInteraction", "ProductLinear"]
