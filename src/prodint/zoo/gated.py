"""Order-2 families: gated linear units and bilinear layers.

=========== ========================================================== =====
layer       math                                                       order
=========== ========================================================== =====
GLU         ``(x W1ᵀ + b1) ⊙ σ(x W2ᵀ + b2)``                              2
SwiGLU      ``(SiLU(x W1ᵀ) ⊙ x W2ᵀ) W3ᵀ``                                 2
Bilinear    ``y_o = Σ_ij x1_i A[o,i,j] x2_j + b_o`` (``nn.Bilinear``)        2
=========== ========================================================== =====

The gate is the product in the Hadamard algebra; ``forward`` uses torch's fused functions
(``F.glu``, ``F.bilinear``), :meth:`general` the expression.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.algebra import hadamard
from prodint.checks import (
    check_bool,
    check_features,
    check_int,
    check_layer_options,
    check_parameter_memory,
)
from prodint.interaction import Contract, Expr, Parameter, Pointwise, Product, Signal, Sum
from prodint.interaction.layer import InteractionLayer
from prodint.interaction.library import projection
from prodint.zoo.registry import copy_from, register_converter


class GLU(InteractionLayer):
    """Gated linear unit ``(x W1ᵀ + b1) ⊙ σ(x W2ᵀ + b2)``: ``[..., in] → [..., hidden]``."""

    def __init__(self, in_features: int, hidden: int, bias: bool = True, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_int(in_features, "in_features", minimum=1)
        check_int(hidden, "hidden", minimum=1)
        check_bool(bias, "bias")
        check_layer_options(device, dtype, generator)
        check_parameter_memory(2 * (in_features + 1) * hidden, "in_features, hidden", dtype)
        x = Signal("X", [("c", in_features)])
        a = projection(x, "W1", hidden, out_axis="h", bias="b1" if bias else None,
                       torch_layout=True)
        g = Pointwise("sigmoid", projection(x, "W2", hidden, out_axis="h",
                                            bias="b2" if bias else None, torch_layout=True))
        super().__init__(Product(a, g, hadamard(hidden), "h"), device=device, dtype=dtype,
                         generator=generator)
        self.in_features, self.hidden, self.bias = in_features, hidden, bias

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, self.param("W1"))
        w = torch.cat([self.param("W1"), self.param("W2")])
        b = torch.cat([self.param("b1"), self.param("b2")]) if self.bias else None
        return F.glu(F.linear(x, w, b), dim=-1)


class SwiGLU(InteractionLayer):
    """``(SiLU(x W1ᵀ) ⊙ x W2ᵀ) W3ᵀ``: ``[..., in] → [..., out]`` (no biases, as in LLaMA)."""

    def __init__(self, in_features: int, hidden: int, out_features: int, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        for name, value in (("in_features", in_features), ("hidden", hidden),
                            ("out_features", out_features)):
            check_int(value, name, minimum=1)
        check_layer_options(device, dtype, generator)
        check_parameter_memory((2 * in_features + out_features) * hidden,
                         "in_features, hidden, out_features", dtype)
        x = Signal("X", [("c", in_features)])
        gate = Pointwise("silu", projection(x, "W1", hidden, out_axis="h", torch_layout=True))
        value = projection(x, "W2", hidden, out_axis="h", torch_layout=True)
        mixed = Product(gate, value, hadamard(hidden), "h")
        super().__init__(projection(mixed, "W3", out_features, axis="h", torch_layout=True),
                         device=device, dtype=dtype, generator=generator)
        self.in_features = in_features

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, self.param("W1"))
        h = F.silu(F.linear(x, self.param("W1"))) * F.linear(x, self.param("W2"))
        return F.linear(h, self.param("W3"))


class Bilinear(InteractionLayer):
    """``y[..., o] = Σ_ij x1[..., i] A[o, i, j] x2[..., j] + b[o]`` (``nn.Bilinear``)."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        for name, value in (("in1_features", in1_features), ("in2_features", in2_features),
                            ("out_features", out_features)):
            check_int(value, name, minimum=1)
        check_bool(bias, "bias")
        check_layer_options(device, dtype, generator)
        check_parameter_memory((in1_features * in2_features + 1) * out_features,
                         "in1_features, in2_features, out_features", dtype)
        x1 = Signal("X1", [("i", in1_features)])
        x2 = Signal("X2", [("j", in2_features)])
        a = Parameter("A", [("o", out_features), ("i", in1_features), ("j", in2_features)],
                      init="uniform", fan_in=("i",))
        y: Expr = Contract(Contract(x1, a, over="i"), x2, over="j")
        if bias:
            y = Sum(y, Parameter("b", [("o", out_features)], init="zeros"))
        super().__init__(y, device=device, dtype=dtype, generator=generator)
        self.in1_features, self.in2_features, self.bias = in1_features, in2_features, bias

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        check_features(x1, self.in1_features, self.param("A"), "x1", "in1_features")
        check_features(x2, self.in2_features, self.param("A"), "x2", "in2_features")
        if x1.shape[:-1] != x2.shape[:-1]:
            raise ValueError(f"x2: expected leading dims {tuple(x1.shape[:-1])} (those of x1), "
                             f"received shape {tuple(x2.shape)}")
        return F.bilinear(x1, x2, self.param("A"), self.param("b") if self.bias else None)


@register_converter(nn.Bilinear)
def _from_bilinear(module: nn.Bilinear) -> Bilinear:
    layer = Bilinear(module.in1_features, module.in2_features, module.out_features,
                     module.bias is not None)
    return copy_from(layer, module, A=module.weight, b=module.bias)
