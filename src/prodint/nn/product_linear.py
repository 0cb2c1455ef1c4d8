"""The order-1 multiplication operator as a layer: ``y_o = Σ_i K_{o,i} · x_i (+ b_o)``.

Inputs and outputs are channels of algebra elements, ``x[..., i, a]`` with ``a`` the algebra
coordinate; the filters ``K[i, o, :]`` are algebra elements too. Over the complex numbers this
is a complex linear layer, over ``H`` a quaternion layer, over ``Cl(p, q, r)`` a Clifford
linear layer, over ``R[G]`` a group-convolution layer on signals over ``G``.

The expression states the product through the structure-constant fold
(:func:`~prodint.interaction.fold.fold`): the real weight

    W[(i, a), (o, c)] = Σ_b K[i, o, b] Γ[b, a, c]

is a tie table of ``K`` (index table from the algebra's triples, weights ``Γ``), and the layer
is ``y[o, c] = Σ_{i,a} x[i, a] W[i, a, o, c] + b[o, c]``. The fast path builds ``W`` with that
tie once per call (``O(i·o·n²·r)`` work, independent of the batch) and runs ONE matmul.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from prodint.algebra import Algebra
from prodint.checks import check_bool, check_layer_options, check_parameter_memory, check_tensor
from prodint.interaction import Contract, Expr, Gather, Parameter, Plan, Signal, Sum
from prodint.interaction.fold import fold
from prodint.interaction.layer import InteractionLayer
from prodint.nn.dtn.checks import check_positive


def product_linear_expression(algebra: Algebra, in_channels: int, out_channels: int,
                              bias: bool = True) -> tuple[Expr, Gather]:
    """``Σ_{i,a} X[i, a] W[i, a, o, c] (+ b[o, c])`` with ``W = fold(K)``: the product ``K · x``
    (order 1). Returns the expression and its fold ``W``."""
    n = algebra.dim
    x = Signal("X", [("i", in_channels), ("a", n, algebra)])
    # N(0, 1/in_channels); the layer rescales by the algebra's reach (class doc)
    k = Parameter("K", [("i", in_channels), ("o", out_channels), ("b", n, algebra)],
                  fan_in=("i",))
    weight = fold(k, algebra, "b", side="left", input_axis="a", output_axis="c",
                  order=("i", "a", "o", "c"))
    y: Expr = Contract(x, weight, over=("i", "a"))
    if bias:
        y = Sum(y, Parameter("b", [("o", out_channels), ("c", n, algebra)], init="zeros"))
    return y, weight


class ProductLinear(InteractionLayer):
    """``y[..., o, c] = Σ_i (K[i, o] · x[..., i])_c + b[o, c]`` in an algebra ``A``.

    Args:
        algebra: the algebra ``A`` (dimension ``n``, fixed structure constants).
        in_channels: number of input channels ``i``.
        out_channels: number of output channels ``o``.
        bias: add a learned algebra element per output channel (initialised to zero).
        device, dtype, generator: as :class:`~prodint.interaction.layer.InteractionLayer`.

    Shapes: input ``[..., in_channels, n]``, output ``[..., out_channels, n]``; parameters
    ``params.K`` ``[in_channels, out_channels, n]`` and ``params.b`` ``[out_channels, n]``.

    Initialisation: ``K ~ N(0, σ²)`` with ``σ² = 1 / (in_channels · Σ_{a,b,c} Γ²/n)``, so that
    for unit-variance inputs each output coordinate has unit variance on average (the sum
    ``Σ_{a,b,c} Γ[b,a,c]²/n`` counts the squared structure constants reaching a coordinate).

    Raises:
        TypeError: ``algebra`` not an :class:`~prodint.algebra.Algebra`, a channel count not
            an int, ``bias`` not a bool, a ``device``/``dtype``/``generator`` of the wrong
            kind.
        ValueError: a channel count below 1, a real weight that would not fit in memory, a
            device this machine does not have.
    """

    def __init__(self, algebra: Algebra, in_channels: int, out_channels: int, *,
                 bias: bool = True, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        if not isinstance(algebra, Algebra):
            raise TypeError(f"algebra: expected a prodint Algebra, received "
                            f"{type(algebra).__name__}")
        check_positive(in_channels=in_channels, out_channels=out_channels)
        check_bool(bias, "bias")
        check_layer_options(device, dtype, generator)
        n = algebra.dim
        check_parameter_memory(in_channels * out_channels * n * n, "out_channels", dtype,
                               what="the real weight [in_channels·n, out_channels·n]")
        self.in_channels, self.out_channels = in_channels, out_channels
        dtype = dtype if dtype is not None else algebra.dtype
        expression, weight = product_linear_expression(algebra, in_channels, out_channels, bias)
        super().__init__(expression, device=device, dtype=dtype, generator=generator)
        self.algebra = algebra.to_dtype(dtype).to(device)
        self._fold = Plan(weight)
        # Σ_{a,b,c} Γ²/n: how many unit structure constants reach an output coordinate.
        self._reach = max(float((algebra.values.double() ** 2).sum()) / algebra.dim, 1e-12)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """``K ~ N(0, σ²)`` (class doc), bias zero."""
        super().reset_parameters()
        self.params["K"].div_(math.sqrt(self._reach))

    def real_weight(self) -> Tensor:
        """``[in·n, out·n]`` real matrix ``W[(i,a),(o,c)] = Σ_b K[i,o,b] Γ[b,a,c]`` (the tie)."""
        n = self.algebra.dim
        weight = self._fold.run({}, self.params, self.tables())
        return weight.reshape(self.in_channels * n, self.out_channels * n)

    def forward(self, x: Tensor) -> Tensor:
        """``[..., in_channels, n] → [..., out_channels, n]`` by one matmul.

        Raises:
            TypeError: ``x`` not a tensor, or not of the parameters' dtype.
            ValueError: ``x`` of another shape or on another device than the parameters.
        """
        n = self.algebra.dim
        layout = (f"[..., in_channels={self.in_channels}, {n}] (channels, {self.algebra.name} "
                  f"coordinates)")
        weight = self.params["K"]
        x = check_tensor(x, "x", layout=layout, dtypes=None)
        if x.dim() < 2 or x.shape[-2:] != (self.in_channels, n):
            raise ValueError(f"x: expected a tensor {layout}, received shape {tuple(x.shape)}")
        if x.dtype != weight.dtype:
            raise TypeError(f"x: expected dtype {weight.dtype} (that of the layer's "
                            f"parameters), received {x.dtype}")
        if x.device != weight.device:
            raise ValueError(f"x: expected a tensor on {weight.device} (that of the layer's "
                             f"parameters), received one on {x.device}")
        y = (x.flatten(-2) @ self.real_weight()).unflatten(-1, (self.out_channels, n))
        return y + self.params["b"] if self.has_param("b") else y

    def extra_repr(self) -> str:
        return (f"{self.algebra.name}, in_channels={self.in_channels}, "
                f"out_channels={self.out_channels}, bias={self.has_param('b')}, "
                f"{super().extra_repr()}")
