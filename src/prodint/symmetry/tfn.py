"""Tensor field network point convolution: a span over the edges of a neighbour graph.

For points ``pos [N, 3]`` with irrep-typed features ``x [N, irreps_in.dim]``, every edge
``e = (s → d)`` carries the relative position ``r_e = pos[s] − pos[d]`` and the *filter*
``F_e = R(|r_e|) ⊗ Y(r_e / |r_e|)``: spherical harmonics times learned radial profiles. The
message is the channelwise equivariant tensor product of the source features with the filter,
and the layer sums messages into their destination:

    out[d] = L( Σ_{e: dst(e) = d} TP(x[src(e)], Y(r_e); R(|r_e|)) ) / sqrt(n̄) + L_self(x[d])

with ``L``, ``L_self`` equivariant linear maps (:class:`~prodint.symmetry.linear.Linear`) and
``n̄`` the expected number of neighbours. As a product interaction: the gather ``x[src(e)]``
(the source leg of the span), an order-1 product with the data-dependent filter (structure
constants ``Γ_e[a, b, c]`` from the radial MLP, contracted with ``Y_e[b]``), a linear map, and
the scatter-add to ``dst(e)`` (the target leg). Order 1 in the features.

The expression language states the parts but not the whole: the gather and the scatter run
along a data-dependent neighbour graph and the filter is a radial MLP of the edge lengths
and spherical harmonics of the edge directions, none of which it can say. So
:class:`PointConvolution` is a module *built of* layers under the contract (its tensor
product and its two equivariant linear maps each have an expression), and its own
:attr:`~PointConvolution.expression` raises instead of advertising a part as the whole.
:meth:`PointConvolution.oracle` is an independent implementation for tests: the per-edge
bilinear map with dense structure constants ``Γ_e[a, b, c]`` and the dense matrix of ``L``,
then the scatter.

Equivariance: for ``g = (Q, t)`` in E(3), ``pos ↦ pos Qᵀ + t`` and ``x ↦ D(Q) x`` give
``out ↦ D(Q) out`` (the harmonics carry parity ``(−1)^l``, so reflections are included).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from prodint.checks import check_float, check_int, check_layer_input
from prodint.interaction import Expr
from prodint.symmetry.graph import RadialMLP, neighbour_graph, scatter_sum
from prodint.symmetry.irreps import Irreps, as_irreps
from prodint.symmetry.linear import Linear, layer_tensor
from prodint.symmetry.so3 import MAX_DEGREE
from prodint.symmetry.spherical_harmonics import sh_irreps, spherical_harmonics
from prodint.symmetry.tensor_product import ChannelwiseTensorProduct

__all__ = ["EdgeFilter", "PointConvolution"]


class EdgeFilter(nn.Module):
    """Shared edge geometry: harmonics ``Y(r_e)`` and radial weights ``R(|r_e|)``.

    Args:
        lmax: largest degree of the harmonics (layout ``0e + 1o + 2e + …``).
        r_max: neighbour radius (also the radial cutoff).
        n_weights: number of radial weights per edge.
        n_basis, hidden: radial basis size and MLP width.
    """

    def __init__(self, lmax: int, r_max: float, n_weights: int, n_basis: int = 8,
                 hidden: int = 16) -> None:
        super().__init__()
        self.lmax = check_int(lmax, "lmax", minimum=0, maximum=MAX_DEGREE)
        self.r_max = check_float(r_max, "r_max", minimum=0.0, strict_minimum=True)
        self.irreps_sh = sh_irreps(list(range(lmax + 1)))
        self.radial = RadialMLP(r_max, n_weights, n_basis, hidden)

    def forward(self, pos: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        """``(Y [E, irreps_sh.dim], R [E, n_weights])``."""
        r = pos[edge_index[0]] - pos[edge_index[1]]
        y = spherical_harmonics(list(range(self.lmax + 1)), r, normalization="component")
        return y, self.radial(r.norm(dim=-1))


class PointConvolution(nn.Module):
    """Tensor field network convolution ``[N, irreps_in.dim] → [N, irreps_out.dim]``.

    Args:
        irreps_in, irreps_out: feature layouts.
        lmax: largest degree of the filter's harmonics.
        r_max: neighbour radius (and radial cutoff).
        avg_neighbors: ``n̄`` in the module doc (normalises the sum of messages).
        n_basis, hidden: radial basis size and MLP width.

    Call ``conv(x, pos, edge_index=None, batch=None)``: without ``edge_index`` the radius graph
    of ``pos`` (within each cloud of ``batch``) is used.

    Raises:
        TypeError, ValueError: a malformed or empty layout, ``lmax`` not an int in
            ``0 … MAX_DEGREE``, ``r_max`` or ``avg_neighbors`` not finite and positive, bad
            radial sizes; inputs of the wrong kind, shape, dtype or device.
    """

    def __init__(self, irreps_in: Irreps | str, irreps_out: Irreps | str, lmax: int = 2,
                 r_max: float = 2.0, avg_neighbors: float = 1.0, n_basis: int = 8,
                 hidden: int = 16) -> None:
        super().__init__()
        self.irreps_in = as_irreps(irreps_in, "irreps_in", empty=False)
        self.irreps_out = as_irreps(irreps_out, "irreps_out", empty=False)
        self.avg_neighbors = check_float(avg_neighbors, "avg_neighbors", minimum=0.0,
                                         strict_minimum=True)
        check_int(lmax, "lmax", minimum=0, maximum=MAX_DEGREE)
        targets = sorted({ir for _, ir in self.irreps_out})
        irreps_sh = sh_irreps(list(range(lmax + 1)))
        self.tp = ChannelwiseTensorProduct(self.irreps_in, irreps_sh, targets)
        self.filter = EdgeFilter(lmax, r_max, self.tp.weight_numel, n_basis, hidden)
        self.linear = Linear(self.tp.irreps_out, self.irreps_out)
        self.self_connection = Linear(self.irreps_in, self.irreps_out, bias=True)

    @property
    def expression(self) -> Expr:
        """Not stated: raises ``NotImplementedError`` (see the module doc for why)."""
        raise NotImplementedError(
            "PointConvolution: the expression language cannot state this layer (messages are "
            "gathered and scattered along a data-dependent neighbour graph, and the filter is a "
            "radial MLP and spherical harmonics of the edge vectors); its parts have "
            "expressions: .tp, .linear and .self_connection")

    @property
    def self_interaction_order(self) -> int:
        """Not stated: it would be derived from :attr:`expression`, which raises."""
        return self.expression.self_interaction_order

    def forward(self, x: Tensor, pos: Tensor, edge_index: Tensor | None = None,
                batch: Tensor | None = None) -> Tensor:
        check_layer_input(x, "x", layer_tensor(self.self_connection))
        edge_index = neighbour_graph(x, self.irreps_in, pos, self.filter.r_max, edge_index,
                                     batch)
        y, w = self.filter(pos.to(x.dtype), edge_index)
        messages = self.tp(x[edge_index[0]], y, w)
        summed = scatter_sum(messages, edge_index[1], x.shape[0])
        return self.linear(summed / math.sqrt(self.avg_neighbors)) + self.self_connection(x)

    def oracle(self, x: Tensor, pos: Tensor, edge_index: Tensor | None = None,
               batch: Tensor | None = None) -> Tensor:
        """``Σ_{e → d} Σ_{a,b} Γ_e[a,b,c] x[src(e)]_a Y_e[b] L[c, o] / sqrt(n̄) + L_self x[d]``
        with the dense per-edge structure constants and the dense matrix of ``L``."""
        check_layer_input(x, "x", layer_tensor(self.self_connection))
        edge_index = neighbour_graph(x, self.irreps_in, pos, self.filter.r_max, edge_index,
                                     batch)
        y, w = self.filter(pos.to(x.dtype), edge_index)
        eye = torch.eye(self.tp.irreps_out.dim, dtype=x.dtype, device=x.device)
        per_edge = torch.einsum("nabc,na,nb,co->no", self.tp.structure_constants(w),
                                x[edge_index[0]], y, self.linear(eye))
        summed = scatter_sum(per_edge, edge_index[1], x.shape[0])
        return summed / math.sqrt(self.avg_neighbors) + self.self_connection(x)

    def extra_repr(self) -> str:
        return (f"{self.irreps_in} → {self.irreps_out}, lmax={self.filter.lmax}, "
                f"r_max={self.filter.r_max}")
