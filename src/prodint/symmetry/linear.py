"""Equivariant linear maps and pointwise nonlinearities on irrep-typed features.

By Schur's lemma the equivariant linear maps ``V_{l,p} → V_{l',p'}`` are zero unless
``(l, p) = (l', p')`` and multiples of the identity otherwise (the solver finds a
one-dimensional null space spanned by ``I / sqrt(2l+1)``; the tests check this). So an
equivariant linear map between layouts mixes multiplicities only:

    out[o: w, k] = Σ_{blocks i with ir_i = ir_o} Σ_u W_io[u, w] x[i: u, k] / sqrt(fan_in(o)) + b

with ``fan_in(o) = Σ mul_i`` over those blocks and a bias ``b`` on even scalars (``0e``) only
(a bias on any other irrep would break equivariance). It is a product interaction of order 1:
``Contract(X[c, k], W[c, o], over=c)`` per irrep type.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from prodint.interaction import Contract, Expr, Parameter, Signal
from prodint.symmetry.irreps import Irrep, Irreps

__all__ = ["Linear", "NormActivation"]

_EVEN_SCALAR = Irrep(0, 1)


class Linear(nn.Module):
    """Equivariant linear map ``irreps_in → irreps_out`` (module doc).

    Args:
        irreps_in, irreps_out: layouts.
        bias: learn a bias on the ``0e`` output blocks.

    Attributes:
        weight: flat ``[Σ mul_i mul_o]`` over the matching block pairs, ``N(0, 1)``.
        bias: ``[Σ_{0e blocks} mul_o]`` zeros, or ``None``.
        expression: ``Σ_c X[c, k] W[c, o]`` (one irrep type shown; every type is the same
            contraction with its own ``W``), order 1.

    Shapes: ``[..., irreps_in.dim] → [..., irreps_out.dim]``.
    """

    def __init__(self, irreps_in: Irreps | str, irreps_out: Irreps | str,
                 bias: bool = False) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        self.pairs: list[tuple[int, int, slice]] = []
        start = 0
        for o, (mul_o, ir_o) in enumerate(self.irreps_out):
            for i, (mul_i, ir_i) in enumerate(self.irreps_in):
                if ir_i == ir_o and mul_i and mul_o:
                    self.pairs.append((i, o, slice(start, start + mul_i * mul_o)))
                    start += mul_i * mul_o
        self.fan_in = [sum(self.irreps_in[i][0] for i, oo, _ in self.pairs if oo == o)
                       for o in range(len(self.irreps_out))]
        self.weight = nn.Parameter(torch.randn(start))
        n_bias = sum(mul for mul, ir in self.irreps_out if ir == _EVEN_SCALAR)
        self.bias = nn.Parameter(torch.zeros(n_bias)) if bias and n_bias else None
        mul_in = max((mul for mul, _ in self.irreps_in), default=1) or 1
        mul_out = max((mul for mul, _ in self.irreps_out), default=1) or 1
        self.expression: Expr = Contract(Signal("X", [("c", mul_in), ("k", None)]),
                                         Parameter("W", [("c", mul_in), ("o", mul_out)]),
                                         over="c")

    @property
    def self_interaction_order(self) -> int:
        return self.expression.self_interaction_order

    def forward(self, x: Tensor) -> Tensor:
        """One ``[B·(2l+1), mul_in] @ [mul_in, mul_out]`` matmul per block pair."""
        self.irreps_in.check(x, "x")
        lead = x.shape[:-1]
        x = x.reshape(-1, x.shape[-1])
        batch = x.shape[0]
        weight = self.weight.to(x.dtype)
        ins = [x[:, sl].reshape(batch, mul, ir.dim).transpose(1, 2)
               for (mul, ir), sl in zip(self.irreps_in, self.irreps_in.slices(), strict=True)]
        outs: list[Tensor | None] = [None] * len(self.irreps_out)
        for i, o, sl in self.pairs:
            w = weight[sl].view(self.irreps_in[i][0], self.irreps_out[o][0]) \
                / math.sqrt(self.fan_in[o])
            term = ins[i] @ w  # [B, 2l+1, mul_out]
            prev = outs[o]
            outs[o] = term if prev is None else prev + term
        blocks, b = [], 0
        for (mul, ir), out in zip(self.irreps_out, outs, strict=True):
            block = x.new_zeros(batch, ir.dim, mul) if out is None else out
            if self.bias is not None and ir == _EVEN_SCALAR:
                block = block + self.bias[b:b + mul].to(x.dtype)
                b += mul
            blocks.append(block.transpose(1, 2).reshape(batch, mul * ir.dim))
        out = torch.cat(blocks, -1) if blocks else x.new_zeros(batch, 0)
        return out.reshape(*lead, self.irreps_out.dim)

    def extra_repr(self) -> str:
        return f"{self.irreps_in} → {self.irreps_out}, bias={self.bias is not None}"


class NormActivation(nn.Module):
    """Equivariant pointwise nonlinearity on a layout.

    - ``0e`` channels: ``silu(x)``; ``0o`` channels: ``tanh(x)`` (odd, so the sign flip of
      a pseudoscalar under inversion commutes with it);
    - ``l > 0`` channels: ``x · sigmoid(|x| + b)`` with the invariant norm
      ``|x| = sqrt(Σ_k x_k² + ε)`` per channel and a learned bias ``b`` per channel.

    Shapes: ``[..., irreps.dim] → [..., irreps.dim]``.
    """

    def __init__(self, irreps: Irreps | str, eps: float = 1e-12) -> None:
        super().__init__()
        self.irreps = Irreps(irreps)
        self.eps = eps
        n_bias = sum(mul for mul, ir in self.irreps if ir.l > 0)
        self.bias = nn.Parameter(torch.zeros(n_bias))

    def forward(self, x: Tensor) -> Tensor:
        self.irreps.check(x, "x")
        blocks, b = [], 0
        for (mul, ir), sl in zip(self.irreps, self.irreps.slices(), strict=True):
            block = x[..., sl]
            if ir.l == 0:
                blocks.append(torch.nn.functional.silu(block) if ir.p == 1
                              else torch.tanh(block))
                continue
            v = block.reshape(*block.shape[:-1], mul, ir.dim)
            norm = torch.sqrt((v * v).sum(-1, keepdim=True) + self.eps)
            gate = torch.sigmoid(norm + self.bias[b:b + mul, None].to(x.dtype))
            blocks.append((v * gate).reshape(block.shape))
            b += mul
        return torch.cat(blocks, -1)
