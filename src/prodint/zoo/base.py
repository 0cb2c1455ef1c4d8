"""The common shape of a zoo module: the expression is the truth, the kernel a choice.

An :class:`ExpressionLayer` owns its interaction expression and the compiled module holding
the parameters (in the expression's own layout, chosen to be torch's where a torch
counterpart exists). ``forward`` may dispatch to a native torch kernel where the expression is
recognised (a convolution, attention); :meth:`general` runs the compiled expression and
:meth:`reference` the node-by-node evaluation. Tests hold all three equal.
"""

from __future__ import annotations

from torch import Tensor, nn

from prodint.interaction import CompiledInteraction, Expr, compile


class ExpressionLayer(nn.Module):
    """Base for zoo modules built from one expression.

    Attributes:
        expression: the product interaction computed.
        interaction: the compiled expression; its ``params`` are this layer's parameters.
    """

    def __init__(self, expression: Expr) -> None:
        super().__init__()
        self.expression = expression
        self.interaction: CompiledInteraction = compile(expression)

    @property
    def self_interaction_order(self) -> int:
        return self.expression.self_interaction_order

    def param(self, name: str) -> Tensor:
        """The parameter called ``name`` in the expression."""
        return self.interaction.params[name]

    def has_param(self, name: str) -> bool:
        return name in self.interaction.params

    def general(self, *inputs: Tensor, **named: Tensor) -> Tensor:
        """The compiled expression (the general path, no native dispatch)."""
        return self.interaction(*inputs, **named)

    def reference(self, *inputs: Tensor, **named: Tensor) -> Tensor:
        """Node-by-node evaluation of the expression (the reference)."""
        return self.interaction.reference(*inputs, **named)

    def load_tensors(self, **tensors: Tensor) -> None:
        """Copy tensors into the named parameters (shapes must match exactly)."""
        for name, value in tensors.items():
            target = self.param(name)
            if target.shape != value.shape:
                raise ValueError(f"{name}: expected shape {tuple(target.shape)}, received "
                                 f"{tuple(value.shape)}")
            target.data.copy_(value.detach().to(target.dtype))
