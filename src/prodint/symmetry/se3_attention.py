"""SE(3)-equivariant attention over a neighbour graph (in the style of the SE(3)-Transformer).

For points with irrep-typed features ``x`` and every edge ``e = (s → d)`` with relative
position ``r_e = pos[s] − pos[d]``:

    q_e = L_q x[d],                             (query at the destination, irreps_key)
    k_e = L_k TP(x[s], Y(r_e); R_k(|r_e|)),      (key carried by the edge, irreps_key)
    v_e = L_v TP(x[s], Y(r_e); R_v(|r_e|)),      (value carried by the edge, irreps_out)
    a_e = ⟨q_e, k_e⟩ / sqrt(dim irreps_key),     (invariant: D is orthogonal and block-diagonal)
    out[d] = Σ_{e: dst(e) = d} softmax_d(a)_e v_e + L_self x[d]

where ``TP`` is the channelwise tensor product with the spherical-harmonic filter of
:mod:`prodint.symmetry.tfn` and ``softmax_d`` normalises over the edges entering ``d``. The
weights ``softmax(a)`` are invariant and ``v_e`` equivariant, so ``out`` is equivariant under
rotations, reflections and translations.

As a product interaction: the logits are a contraction of two order-1 terms (order 2), the
exponential keeps the order, and the product with the value makes it order 3 — the order of
softmax attention. :attr:`SE3Attention.expression` is the per-edge numerator
``exp(Σ_k q_e[k] k_e[k] / sqrt(dim)) v_e[o]`` over an edge axis; the per-destination softmax
denominator and the scatter to ``dst(e)`` (not expressible in the expression language) follow
it in :meth:`SE3Attention.expression_value`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from prodint.interaction import Contract, Expr, Parameter, Pointwise, Scale, Signal, evaluate
from prodint.symmetry.graph import check_positions, radius_graph, scatter_softmax, scatter_sum
from prodint.symmetry.irreps import Irreps
from prodint.symmetry.linear import Linear
from prodint.symmetry.spherical_harmonics import sh_irreps
from prodint.symmetry.tensor_product import ChannelwiseTensorProduct
from prodint.symmetry.tfn import EdgeFilter, check_edges

__all__ = ["SE3Attention"]


class SE3Attention(nn.Module):
    """Single-head SE(3)-equivariant graph attention ``[N, irreps_in.dim] → [N, irreps_out.dim]``.

    Args:
        irreps_in: input layout.
        irreps_key: layout of queries and keys.
        irreps_out: layout of values and output.
        lmax: largest degree of the edge harmonics.
        r_max: neighbour radius (and radial cutoff).
        n_basis, hidden: radial basis size and MLP width.

    Call ``attn(x, pos, edge_index=None, batch=None)`` as :class:`~prodint.symmetry.tfn.
    PointConvolution`.
    """

    def __init__(self, irreps_in: Irreps | str, irreps_key: Irreps | str,
                 irreps_out: Irreps | str, lmax: int = 2, r_max: float = 2.0,
                 n_basis: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.irreps_in, self.irreps_key = Irreps(irreps_in), Irreps(irreps_key)
        self.irreps_out = Irreps(irreps_out)
        irreps_sh = sh_irreps(list(range(lmax + 1)))
        self.query = Linear(self.irreps_in, self.irreps_key)
        self.tp_key = ChannelwiseTensorProduct(self.irreps_in, irreps_sh,
                                               sorted({ir for _, ir in self.irreps_key}))
        self.tp_value = ChannelwiseTensorProduct(self.irreps_in, irreps_sh,
                                                 sorted({ir for _, ir in self.irreps_out}))
        n_key = self.tp_key.weight_numel
        self.filter = EdgeFilter(lmax, r_max, n_key + self.tp_value.weight_numel, n_basis,
                                 hidden)
        self.key = Linear(self.tp_key.irreps_out, self.irreps_key)
        self.value = Linear(self.tp_value.irreps_out, self.irreps_out)
        self.self_connection = Linear(self.irreps_in, self.irreps_out, bias=True)
        dk, dv = self.irreps_key.dim, self.irreps_out.dim
        d_in = self.irreps_in.dim
        x_dst = Signal("X_dst", [("e", None), ("a", d_in)])
        x_src = Signal("X_src", [("e", None), ("a", d_in)])
        # One head: a size-1 head axis ``h`` carries the attention weight to the value.
        query = Contract(x_dst, Parameter("W_q", [("a", d_in), ("h", 1), ("k", dk)]), over="a")
        key = Contract(x_src, Signal("KeyMap_e", [("e", None), ("a", d_in), ("k", dk)],
                                     order=0), over="a")
        value = Contract(x_src, Signal("ValueMap_e", [("e", None), ("a", d_in), ("h", 1),
                                                      ("o", dv)], order=0), over="a")
        logits = Scale(Contract(query, key, over="k"), 1 / math.sqrt(dk))
        self.expression: Expr = Contract(Pointwise("exp", logits), value, over="h")

    @property
    def self_interaction_order(self) -> int:
        return self.expression.self_interaction_order

    def _graph(self, x: Tensor, pos: Tensor, edge_index: Tensor | None,
               batch: Tensor | None) -> Tensor:
        self.irreps_in.check(x, "x")
        check_positions(pos)
        if x.dim() != 2 or x.shape[0] != pos.shape[0]:
            raise ValueError(f"x: expected shape [{pos.shape[0]}, {self.irreps_in.dim}] (one "
                             f"row per point of pos), received {tuple(x.shape)}")
        if edge_index is None:
            return radius_graph(pos, self.filter.r_max, batch)
        return check_edges(edge_index, pos.shape[0])

    def _edge_terms(self, x: Tensor, pos: Tensor, edge_index: Tensor
                    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(q_e, k_e, v_e)`` as in the module doc."""
        src, dst = edge_index
        y, w = self.filter(pos.to(x.dtype), edge_index)
        n_key = self.tp_key.weight_numel
        xs = x[src]
        k = self.key(self.tp_key(xs, y, w[:, :n_key]))
        v = self.value(self.tp_value(xs, y, w[:, n_key:]))
        return self.query(x)[dst], k, v

    def forward(self, x: Tensor, pos: Tensor, edge_index: Tensor | None = None,
                batch: Tensor | None = None) -> Tensor:
        edge_index = self._graph(x, pos, edge_index, batch)
        q, k, v = self._edge_terms(x, pos, edge_index)
        n, dst = x.shape[0], edge_index[1]
        logits = (q * k).sum(-1) / math.sqrt(self.irreps_key.dim)
        alpha = scatter_softmax(logits, dst, n)
        return scatter_sum(alpha[:, None] * v, dst, n) + self.self_connection(x)

    def expression_value(self, x: Tensor, pos: Tensor, edge_index: Tensor | None = None,
                         batch: Tensor | None = None) -> Tensor:
        """:attr:`expression` evaluated node by node, divided by the per-destination sum of
        ``exp(a_e)``, scattered and added to the self-connection; equals :meth:`forward`."""
        edge_index = self._graph(x, pos, edge_index, batch)
        src, dst = edge_index
        n = x.shape[0]
        y, w = self.filter(pos.to(x.dtype), edge_index)
        n_key = self.tp_key.weight_numel
        # The per-edge linear maps x[src] ↦ k_e and x[src] ↦ v_e, as dense matrices.
        key_map = torch.einsum("nabc,nb,co->nao", self.tp_key.structure_constants(w[:, :n_key]),
                               y, self._dense(self.key, x))
        value_map = torch.einsum("nabc,nb,co->nao",
                                 self.tp_value.structure_constants(w[:, n_key:]), y,
                                 self._dense(self.value, x))
        numerator = evaluate(
            self.expression,
            {"X_dst": x[dst], "X_src": x[src], "KeyMap_e": key_map,
             "ValueMap_e": value_map[:, :, None]},
            {"W_q": self._dense(self.query, x)[:, None]})
        logits = (self.query(x)[dst] * torch.einsum("na,nak->nk", x[src], key_map)).sum(-1)
        denominator = scatter_sum(torch.exp(logits / math.sqrt(self.irreps_key.dim)), dst, n)
        return scatter_sum(numerator, dst, n) / denominator[:, None].clamp_min(
            torch.finfo(x.dtype).tiny) + self.self_connection(x)

    @staticmethod
    def _dense(linear: Linear, like: Tensor) -> Tensor:
        """The ``[dim_in, dim_out]`` matrix of an equivariant :class:`Linear` (no bias)."""
        return linear(torch.eye(linear.irreps_in.dim, dtype=like.dtype, device=like.device))

    def extra_repr(self) -> str:
        return f"{self.irreps_in} → {self.irreps_out}, key {self.irreps_key}"
