"""Dense layers: ``y[..., o] = Σ_c W[o, c] x[..., c] + b[o]``, order 1."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.interaction import Expr, Signal
from prodint.interaction.layer import InteractionLayer
from prodint.interaction.library import projection
from prodint.zoo.registry import copy_from, register_converter


def dense_expression(in_features: int, out_features: int, bias: bool = True) -> Expr:
    """``Σ_c X[c] W[o, c] (+ b[o])`` with torch's ``[out, in]`` weight layout."""
    x = Signal("X", [("c", in_features)])
    return projection(x, "W", out_features, bias="b" if bias else None, torch_layout=True)


def check_features(x: object, features: int, argument: str = "x") -> Tensor:
    """``x`` if it is a tensor ``[..., features]``; otherwise a ``TypeError``/``ValueError``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{argument}: expected a torch.Tensor, received {type(x).__name__}")
    if x.dim() == 0 or x.shape[-1] != features:
        raise ValueError(f"{argument}: expected [..., {features}], received {tuple(x.shape)}")
    return x


class Dense(InteractionLayer):
    """A dense layer; ``forward`` dispatches to ``F.linear``. Input ``[..., in_features]``.

    Parameters ``W [out, in]`` drawn ``U(±1/√in)`` and ``b [out]`` (zeros).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(dense_expression(in_features, out_features, bias), device=device,
                         dtype=dtype, generator=generator)
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features)
        bias = self.param("b") if self.has_param("b") else None
        return F.linear(x, self.param("W"), bias)


@register_converter(nn.Linear)
def _from_linear(module: nn.Linear) -> Dense:
    layer = Dense(module.in_features, module.out_features, module.bias is not None)
    return copy_from(layer, module, W=module.weight, b=module.bias)
