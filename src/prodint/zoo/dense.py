"""Dense layers: ``y[..., o] = Σ_c W[o, c] x[..., c] + b[o]``, order 1."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.checks import (
    check_bool,
    check_features,
    check_int,
    check_layer_options,
    check_parameter_memory,
)
from prodint.interaction import Expr, Signal
from prodint.interaction.layer import InteractionLayer
from prodint.interaction.library import projection
from prodint.zoo.registry import copy_from, register_converter


def dense_expression(in_features: int, out_features: int, bias: bool = True) -> Expr:
    """``Σ_c X[c] W[o, c] (+ b[o])`` with torch's ``[out, in]`` weight layout."""
    x = Signal("X", [("c", in_features)])
    return projection(x, "W", out_features, bias="b" if bias else None, torch_layout=True)


class Dense(InteractionLayer):
    """A dense layer; ``forward`` dispatches to ``F.linear``. Input ``[..., in_features]``.

    Parameters ``W [out, in]`` drawn ``U(±1/√in)`` and ``b [out]`` (zeros).

    Raises:
        TypeError: a size that is not an int, a flag that is not a bool, a bad option.
        ValueError: a size below 1, or parameters that would not fit in memory.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_int(in_features, "in_features", minimum=1)
        check_int(out_features, "out_features", minimum=1)
        check_bool(bias, "bias")
        check_layer_options(device, dtype, generator)
        check_parameter_memory((in_features + 1) * out_features, "in_features, out_features", dtype)
        super().__init__(dense_expression(in_features, out_features, bias), device=device,
                         dtype=dtype, generator=generator)
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, self.param("W"))
        bias = self.param("b") if self.has_param("b") else None
        return F.linear(x, self.param("W"), bias)


@register_converter(nn.Linear)
def _from_linear(module: nn.Linear) -> Dense:
    layer = Dense(module.in_features, module.out_features, module.bias is not None)
    return copy_from(layer, module, W=module.weight, b=module.bias)
