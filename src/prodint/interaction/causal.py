"""Causal maps along time with fixed weights: the decayed mask and the causal sum. Linear.

Streaming operators forget the past through a decay ``γ ∈ (0, 1]`` that multiplies their state
before each update (:mod:`prodint.ops.tensor_attention.common`); unrolled, a term that entered
at position ``s`` reaches position ``t`` weighted by ``γ^{t-s}``. These nodes state such
weights in the expression:

- :class:`DecayMask`: ``u[..., t, ..., s, ...] · γ^{t-s} · [s ≤ t]`` on a (query, key) pair of
  axes; ``γ = 1`` is :class:`~prodint.interaction.structural.CausalMask`.
- :class:`CausalSum`: ``y[..., t, ...] = Σ_{s ≤ t} u[..., s, ...]`` along one axis (a prefix
  sum, e.g. the running state ``M_t = Σ_{i ≤ t} q_i k_iᵀ`` of tensor interaction).

Both are fixed linear maps of their operand (a lower-triangular Toeplitz matrix along time),
so ``ord(L(u)) = ord(u)``: the decay is a number, not a function of the signal.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.checks import check_float
from prodint.interaction import index_map as im
from prodint.interaction.axes import find_axis
from prodint.interaction.expr import Expr, Kernel, check_expr


def decay_weights(u: Tensor, names: Sequence[str], query: str, key: str,
                  decay: float) -> Tensor:
    """``γ^{t-s} · [s ≤ t]`` shaped to broadcast against ``u`` (``names`` its trailing axes)."""
    k = len(names)
    qi, ki = names.index(query), names.index(key)
    tq, tk = u.shape[u.dim() - k + qi], u.shape[u.dim() - k + ki]
    lag = torch.arange(tq, device=u.device)[:, None] - torch.arange(tk, device=u.device)[None, :]
    power = torch.pow(decay, lag.clamp_min(0).to(u.dtype))
    weights = torch.where(lag >= 0, power, torch.zeros_like(power))
    if qi > ki:
        weights = weights.T
    shape = [1] * k
    shape[qi], shape[ki] = tq, tk
    return weights.reshape(shape)


class DecayMask(Expr):
    """``u · γ^{query - key} · [key ≤ query]``: a causal mask whose weights decay with the lag.

    Args:
        child: the operand, with both axes ``query`` and ``key`` (positions along time).
        query: the later position ``t``.
        key: the earlier position ``s``.
        decay: ``γ ∈ (0, 1]``; ``γ = 1`` keeps every entry with ``s ≤ t`` unchanged.

    A fixed linear map of ``child``: order ``ord(child)``.
    """

    def __init__(self, child: Expr, query: str, key: str, decay: float):
        check_expr(child, "child")
        find_axis(child.axes, query, argument="query", owner="the operand")
        find_axis(child.axes, key, argument="key", owner="the operand")
        if query == key:
            raise ValueError(f"key: expected an axis other than query {query!r}, received "
                             f"{key!r}")
        decay = check_float(decay, "decay", minimum=0, strict_minimum=True, maximum=1)
        self.children = (child,)
        self.query, self.key, self.decay = query, key, decay
        self.axes = child.axes

    @property
    def self_interaction_order(self) -> int:
        return self.children[0].self_interaction_order

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return DecayMask(children[0], self.query, self.key, self.decay)

    def __str__(self) -> str:
        return f"decay_{self.key}≤{self.query}^{self.decay:.4g}({self.children[0]})"

    def reference(self, u: Tensor) -> Tensor:
        return u * decay_weights(u, self.axis_names, self.query, self.key, self.decay)

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """The identity on the entries with ``key ≤ query``, weighted ``γ^{query - key}``."""
        names = self.axis_names
        coords = im.coordinates(im.grid(sizes).reshape(-1), sizes)
        lag = coords[:, names.index(self.query)] - coords[:, names.index(self.key)]
        keep = lag >= 0
        weight = torch.tensor(self.decay, dtype=torch.float64) ** lag.to(torch.float64)
        return im.identity(sizes, weight=weight, keep=keep)


class CausalSum(Expr):
    """``y[..., t, ...] = Σ_{s ≤ t} u[..., s, ...]``: the prefix sum along axis ``axis``.

    A fixed linear map of ``child`` (the lower-triangular matrix of ones along ``axis``):
    order ``ord(child)``. The value has the axes of ``child``.
    """

    def __init__(self, child: Expr, axis: str):
        check_expr(child, "child")
        find_axis(child.axes, axis, argument="axis", owner="the operand")
        self.children = (child,)
        self.axis = axis
        self.axes = child.axes

    @property
    def self_interaction_order(self) -> int:
        return self.children[0].self_interaction_order

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return CausalSum(children[0], self.axis)

    def __str__(self) -> str:
        return f"Σ_{{≤{self.axis}}} {self.children[0]}"

    def _dim(self) -> int:
        return self.axis_names.index(self.axis) - len(self.axes)

    def reference(self, u: Tensor) -> Tensor:
        # the definition: the ones of the lower triangle, contracted along the axis
        d = self._dim()
        n = u.shape[d]
        lower = torch.ones(n, n, dtype=u.dtype, device=u.device).tril()
        summed = lower @ u.movedim(d, -1).unsqueeze(-1)  # [..., t, 1]
        return summed.squeeze(-1).movedim(-1, d)

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """``y[..., t, ...] += u[..., s, ...]`` for every ``s ≤ t``."""
        d = self.axis_names.index(self.axis)
        t, s = torch.tril_indices(sizes[d], sizes[d])
        positions = im.grid(sizes)
        target = positions.index_select(d, t).reshape(-1)
        source = positions.index_select(d, s).reshape(-1)
        return im.IndexMap(target, source, None, tuple(sizes))

    def kernel(self) -> Kernel:
        d = self._dim()

        def causal_sum(u: Tensor) -> Tensor:
            return u.cumsum(d)

        return causal_sum
