"""Pointwise functions between products: softmax, exp, SiLU, softplus, normalisation.

A pointwise function keeps the self-interaction order of its argument. Functions
that act along an axis (softmax, the normalisations) name it; softmax may be causal over a
``(query, key)`` pair of axes, which masks ``key > query`` with ``-inf`` before normalising.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.checks import check_choice, check_float, check_names
from prodint.interaction.axes import find_axis
from prodint.interaction.expr import Expr, check_expr
from prodint.interaction.structural import causal_mask

ELEMENTWISE: dict[str, Callable[[Tensor], Tensor]] = {
    "exp": torch.exp,
    "silu": F.silu,
    "softplus": F.softplus,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "gelu": F.gelu,
}
ALONG_AXIS = ("softmax", "rmsnorm", "layernorm")


class Pointwise(Expr):
    """``f(u)`` for ``f`` in :data:`ELEMENTWISE` or, along ``axis``, in :data:`ALONG_AXIS`.

    ``softmax_axis(u)_i = exp(u_i) / Σ_j exp(u_j)``; ``rmsnorm(u) = u / sqrt(mean(u²) + eps)``;
    ``layernorm(u) = (u - mean u) / sqrt(var u + eps)`` (no learned scale: a scale is a product
    with a parameter). ``causal=(query, key)`` restricts a softmax over ``key`` to
    ``key ≤ query``.

    Raises:
        TypeError: a child that is not an expression, names that are not str, an ``eps``
            that is not a number.
        ValueError: an unknown ``fn``, an axis given or missing as ``fn`` needs, a ``causal``
            pair that is not ``(query, softmax axis)``, an ``eps`` that is not positive and
            finite.
    """

    def __init__(self, fn: str, child: Expr, axis: str | None = None, *,
                 causal: Sequence[str] | None = None, eps: float = 1e-6):
        check_choice(fn, "fn", sorted([*ELEMENTWISE, *ALONG_AXIS]))
        check_expr(child, "child")
        eps = check_float(eps, "eps", minimum=0, strict_minimum=True)
        if fn in ALONG_AXIS:
            if axis is None:
                raise ValueError(f"axis: {fn} needs the axis it acts along, received None")
            find_axis(child.axes, axis, argument="axis", owner="the operand")
        elif axis is not None:
            raise ValueError(f"axis: {fn} acts elementwise, expected None, received {axis!r}")
        if causal is not None:
            causal = check_names(causal, "causal")
            if fn != "softmax" or len(causal) != 2 or causal[1] != axis:
                raise ValueError("causal: expected (query, key) with key the softmax axis, "
                                 f"received {causal!r} for {fn} over {axis!r}")
            find_axis(child.axes, causal[0], argument="causal", owner="the operand")
        self.fn, self.axis, self.causal, self.eps = fn, axis, causal, eps
        self.children = (child,)
        self.axes = child.axes

    @property
    def self_interaction_order(self) -> int:
        return self.children[0].self_interaction_order

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Pointwise(self.fn, children[0], self.axis, causal=self.causal, eps=self.eps)

    def __str__(self) -> str:
        sub = f"_{self.axis}" if self.axis else ""
        mask = f"[{self.causal[1]}≤{self.causal[0]}]" if self.causal else ""
        return f"{self.fn}{sub}{mask}({self.children[0]})"

    def _dim(self) -> int:
        names = self.axis_names
        return names.index(self.axis) - len(names)  # type: ignore[arg-type]

    def reference(self, u: Tensor) -> Tensor:
        if self.fn in ELEMENTWISE:
            return ELEMENTWISE[self.fn](u)
        d = self._dim()
        if self.fn == "softmax":
            if self.causal is not None:
                allowed = causal_mask(u, self.axis_names, *self.causal)
                u = u.masked_fill(~allowed, float("-inf"))
            return torch.softmax(u, dim=d)
        if self.fn == "rmsnorm":
            return u * torch.rsqrt(u.pow(2).mean(dim=d, keepdim=True) + self.eps)
        centred = u - u.mean(dim=d, keepdim=True)
        return centred * torch.rsqrt(centred.pow(2).mean(dim=d, keepdim=True) + self.eps)
