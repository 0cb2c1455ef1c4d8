"""Dense layers: ``y[..., o] = Σ_c W[o, c] x[..., c] + b[o]``, order 1."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from prodint.interaction import Contract, Expr, Parameter, Signal, Sum
from prodint.interaction.layer import InteractionLayer
from prodint.zoo.registry import register_converter


def dense_expression(in_features: int, out_features: int, bias: bool = True) -> Expr:
    """``Σ_c X[c] W[o, c] (+ b[o])`` with torch's ``[out, in]`` weight layout."""
    x = Signal("X", [("c", in_features)])
    w = Parameter("W", [("o", out_features), ("c", in_features)], init="uniform",
                  fan_in=("c",))
    y: Expr = Contract(x, w, over="c")
    return Sum(y, Parameter("b", [("o", out_features)], init="zeros")) if bias else y


class Dense(InteractionLayer):
    """A dense layer; ``forward`` dispatches to ``F.linear``. Input ``[..., in_features]``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(dense_expression(in_features, out_features, bias))
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected [..., {self.in_features}], received "
                             f"{tuple(x.shape)}")
        bias = self.param("b") if self.has_param("b") else None
        return F.linear(x, self.param("W"), bias)


@register_converter(nn.Linear)
def _from_linear(module: nn.Linear) -> Dense:
    layer = Dense(module.in_features, module.out_features, module.bias is not None)
    layer.to(module.weight.dtype)
    layer.load_tensors(W=module.weight)
    if module.bias is not None:
        layer.load_tensors(b=module.bias)
    return layer
