"""The order-1 multiplication operator as a layer: ``y_o = Σ_i K_{o,i} · x_i (+ b_o)``.

Inputs and outputs are channels of algebra elements, ``x[..., i, a]`` with ``a`` the algebra
coordinate; the filters ``K[i, o, :]`` are algebra elements too. Over the complex numbers this
is a complex linear layer, over ``H`` a quaternion layer, over ``Cl(p, q, r)`` a Clifford
linear layer, over ``R[G]`` a group-convolution layer on signals over ``G``.

Fast path: the structure constants are folded into one real weight matrix per call,
``W[(i, a), (o, c)] = Σ_b K[i, o, b] Γ[b, a, c]``, so the layer is a single matmul (the
rebuild costs ``O(nnz · i · o)``, independent of the batch). The reference is the same
computation as a product interaction (:attr:`ProductLinear.expression`) evaluated node by node.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from prodint.algebra import Algebra
from prodint.interaction import AxisSum, Expr, Parameter, Product, Signal, Sum, evaluate


class ProductLinear(nn.Module):
    """``y[..., o, c] = Σ_i (K[i, o] · x[..., i])_c + b[o, c]`` in an algebra ``A``.

    Args:
        algebra: the algebra ``A`` (dimension ``n``).
        in_channels: number of input channels ``i``.
        out_channels: number of output channels ``o``.
        bias: add a learned algebra element per output channel.

    Shapes: input ``[..., in_channels, n]``, output ``[..., out_channels, n]``.

    Initialisation: ``K ~ N(0, σ²)`` with ``σ² = 1 / (in_channels · Σ_{a,b,c} Γ²/n)``, so that
    for unit-variance inputs each output coordinate has unit variance on average (the sum
    ``Σ_{a,b,c} Γ[b,a,c]²/n`` counts the squared structure constants reaching a coordinate).
    """

    def __init__(self, algebra: Algebra, in_channels: int, out_channels: int, *,
                 bias: bool = True) -> None:
        super().__init__()
        if not isinstance(algebra, Algebra):
            raise TypeError(f"algebra: expected a prodint Algebra, received "
                            f"{type(algebra).__name__}")
        for value, argument in ((in_channels, "in_channels"), (out_channels, "out_channels")):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{argument}: expected a positive int, received {value!r}")
        self.algebra = algebra
        self.in_channels, self.out_channels = in_channels, out_channels
        n = algebra.dim
        reach = float((algebra.values**2).sum()) / n
        std = 1.0 / math.sqrt(in_channels * max(reach, 1e-12))
        self.weight = nn.Parameter(torch.randn(in_channels, out_channels, n,
                                               dtype=algebra.dtype) * std)
        self.bias = nn.Parameter(torch.zeros(out_channels, n, dtype=algebra.dtype)) \
            if bias else None
        x = Signal("X", [("i", in_channels), ("a", n, algebra)])
        k = Parameter("K", [("i", in_channels), ("o", out_channels), ("a", n, algebra)])
        y: Expr = AxisSum(Product(k, x, algebra, "a"), "i")
        if bias:
            y = Sum(y, Parameter("b", [("o", out_channels), ("a", n, algebra)]))
        self.expression: Expr = y

    @property
    def self_interaction_order(self) -> int:
        return self.expression.self_interaction_order

    def real_weight(self) -> Tensor:
        """``[in·n, out·n]`` real matrix ``W[(i,a),(o,c)] = Σ_b K[i,o,b] Γ[b,a,c]``."""
        n = self.algebra.dim
        g = self.algebra.dense_structure_constants()  # [b, a, c]
        w = torch.einsum("iob,bac->iaoc", self.weight, g)
        return w.reshape(self.in_channels * n, self.out_channels * n)

    def forward(self, x: Tensor) -> Tensor:
        """``[..., in_channels, n] → [..., out_channels, n]`` by one matmul."""
        n = self.algebra.dim
        if not isinstance(x, Tensor) or x.dim() < 2 or x.shape[-2:] != (self.in_channels, n):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected a tensor [..., {self.in_channels}, {n}] "
                             f"(channels, {self.algebra.name} coordinates), received {shape}")
        y = x.flatten(-2) @ self.real_weight()
        y = y.unflatten(-1, (self.out_channels, n))
        return y + self.bias if self.bias is not None else y

    def reference(self, x: Tensor) -> Tensor:
        """The product interaction evaluated node by node (dense structure constants)."""
        params = {"K": self.weight}
        if self.bias is not None:
            params["b"] = self.bias
        return evaluate(self.expression, {"X": x}, params)

    def extra_repr(self) -> str:
        return (f"{self.algebra.name}, in_channels={self.in_channels}, "
                f"out_channels={self.out_channels}, bias={self.bias is not None}")
