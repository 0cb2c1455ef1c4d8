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
softmax attention. The expression language cannot state the whole layer: the softmax runs
over the edges entering each destination of a data-dependent neighbour graph, the messages
are scattered along it, and the keys' and values' filters are radial MLPs and spherical
harmonics of the edge vectors. So :class:`SE3Attention` is a module *built of* layers under
the contract (two channelwise tensor products, four equivariant linear maps), and its own
:attr:`~SE3Attention.expression` raises instead of advertising a part as the whole.
:meth:`SE3Attention.oracle` is an independent implementation for tests: dense per-edge key
and value maps, the numerators ``exp(a_e)`` and the per-destination sums written out.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from prodint.checks import check_int, check_layer_input
from prodint.interaction import Expr
from prodint.symmetry.graph import neighbour_graph, scatter_softmax, scatter_sum
from prodint.symmetry.irreps import Irreps, as_irreps
from prodint.symmetry.linear import Linear, layer_tensor
from prodint.symmetry.so3 import MAX_DEGREE
from prodint.symmetry.spherical_harmonics import sh_irreps
from prodint.symmetry.tensor_product import ChannelwiseTensorProduct
from prodint.symmetry.tfn import EdgeFilter

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

    Raises:
        TypeError, ValueError: as :class:`~prodint.symmetry.tfn.PointConvolution`.
    """

    def __init__(self, irreps_in: Irreps | str, irreps_key: Irreps | str,
                 irreps_out: Irreps | str, lmax: int = 2, r_max: float = 2.0,
                 n_basis: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.irreps_in = as_irreps(irreps_in, "irreps_in", empty=False)
        self.irreps_key = as_irreps(irreps_key, "irreps_key", empty=False)
        self.irreps_out = as_irreps(irreps_out, "irreps_out", empty=False)
        check_int(lmax, "lmax", minimum=0, maximum=MAX_DEGREE)
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

    @property
    def expression(self) -> Expr:
        """Not stated: raises ``NotImplementedError`` (see the module doc for why)."""
        raise NotImplementedError(
            "SE3Attention: the expression language cannot state this layer (a softmax over the "
            "edges entering each point of a data-dependent neighbour graph, messages scattered "
            "along it, filters that are radial MLPs and spherical harmonics of the edge "
            "vectors); its parts have expressions: .tp_key, .tp_value, .query, .key, .value "
            "and .self_connection")

    @property
    def self_interaction_order(self) -> int:
        """Not stated: it would be derived from :attr:`expression`, which raises."""
        return self.expression.self_interaction_order

    def _graph(self, x: Tensor, pos: Tensor, edge_index: Tensor | None,
               batch: Tensor | None) -> Tensor:
        check_layer_input(x, "x", layer_tensor(self.self_connection))
        return neighbour_graph(x, self.irreps_in, pos, self.filter.r_max, edge_index, batch)

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

    def oracle(self, x: Tensor, pos: Tensor, edge_index: Tensor | None = None,
               batch: Tensor | None = None) -> Tensor:
        """``Σ_{e → d} exp(a_e) v_e / Σ_{e → d} exp(a_e) + L_self x[d]`` with dense per-edge
        key and value maps (``x[src] ↦ k_e``, ``x[src] ↦ v_e``) and the query's dense matrix."""
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
        query = torch.einsum("na,ak->nk", x[dst], self._dense(self.query, x))
        logits = (query * torch.einsum("na,nak->nk", x[src], key_map)).sum(-1)
        numerator = torch.exp(logits / math.sqrt(self.irreps_key.dim))
        values = torch.einsum("na,nao->no", x[src], value_map)
        denominator = scatter_sum(numerator, dst, n)
        return scatter_sum(numerator[:, None] * values, dst, n) / denominator[:, None].clamp_min(
            torch.finfo(x.dtype).tiny) + self.self_connection(x)

    @staticmethod
    def _dense(linear: Linear, like: Tensor) -> Tensor:
        """The ``[dim_in, dim_out]`` matrix of an equivariant :class:`Linear` (no bias)."""
        return linear(torch.eye(linear.irreps_in.dim, dtype=like.dtype, device=like.device))

    def extra_repr(self) -> str:
        return f"{self.irreps_in} → {self.irreps_out}, key {self.irreps_key}"
