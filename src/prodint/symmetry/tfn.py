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
the scatter-add to ``dst(e)`` (the target leg). :attr:`PointConvolution.expression` is the
per-edge part, ``Σ_c (Σ_b (Σ_a X_e[a] Γ_e[a,b,c]) F_e[b]) L[c, o]`` over an edge axis ``e``;
the scatter and the self-connection follow it (the expression language has no scatter), as
:meth:`PointConvolution.expression_value` spells out. Order 1 in the features.

Equivariance: for ``g = (Q, t)`` in E(3), ``pos ↦ pos Qᵀ + t`` and ``x ↦ D(Q) x`` give
``out ↦ D(Q) out`` (the harmonics carry parity ``(−1)^l``, so reflections are included).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from prodint.interaction import Contract, Expr, Parameter, Signal, evaluate
from prodint.symmetry.graph import RadialMLP, check_positions, radius_graph, scatter_sum
from prodint.symmetry.irreps import Irreps
from prodint.symmetry.linear import Linear
from prodint.symmetry.spherical_harmonics import sh_irreps, spherical_harmonics
from prodint.symmetry.tensor_product import ChannelwiseTensorProduct

__all__ = ["PointConvolution", "check_edges"]


def check_edges(edge_index: object, n: int) -> Tensor:
    """Validate a ``[2, E]`` long tensor of node indices in ``0 … n−1``."""
    if not isinstance(edge_index, Tensor) or edge_index.dtype != torch.long:
        what = edge_index.dtype if isinstance(edge_index, Tensor) else type(edge_index).__name__
        raise TypeError(f"edge_index: expected a long tensor [2, E], received {what}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index: expected shape [2, E], received "
                         f"{tuple(edge_index.shape)}")
    if edge_index.numel() and not (int(edge_index.min()) >= 0 and int(edge_index.max()) < n):
        raise ValueError(f"edge_index: expected node indices in 0..{n - 1}, received range "
                         f"{int(edge_index.min())}..{int(edge_index.max())}")
    return edge_index


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
        self.lmax, self.r_max = lmax, float(r_max)
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
    """

    def __init__(self, irreps_in: Irreps | str, irreps_out: Irreps | str, lmax: int = 2,
                 r_max: float = 2.0, avg_neighbors: float = 1.0, n_basis: int = 8,
                 hidden: int = 16) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        self.avg_neighbors = float(avg_neighbors)
        targets = sorted({ir for _, ir in self.irreps_out})
        irreps_sh = sh_irreps(list(range(lmax + 1)))
        self.tp = ChannelwiseTensorProduct(self.irreps_in, irreps_sh, targets)
        self.filter = EdgeFilter(lmax, r_max, self.tp.weight_numel, n_basis, hidden)
        self.linear = Linear(self.tp.irreps_out, self.irreps_out)
        self.self_connection = Linear(self.irreps_in, self.irreps_out, bias=True)
        d1, d2, d3 = self.irreps_in.dim, irreps_sh.dim, self.tp.irreps_out.dim
        message = Contract(Contract(Signal("X_e", [("e", None), ("a", d1)]),
                                    Signal("Gamma_e", [("e", None), ("a", d1), ("b", d2),
                                                       ("c", d3)], order=0), over="a"),
                           Signal("Y_e", [("e", None), ("b", d2)], order=0), over="b")
        self.expression: Expr = Contract(message, Parameter("L", [("c", d3),
                                                                  ("o", self.irreps_out.dim)]),
                                         over="c")

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

    def forward(self, x: Tensor, pos: Tensor, edge_index: Tensor | None = None,
                batch: Tensor | None = None) -> Tensor:
        edge_index = self._graph(x, pos, edge_index, batch)
        y, w = self.filter(pos.to(x.dtype), edge_index)
        messages = self.tp(x[edge_index[0]], y, w)
        summed = scatter_sum(messages, edge_index[1], x.shape[0])
        return self.linear(summed / math.sqrt(self.avg_neighbors)) + self.self_connection(x)

    def expression_value(self, x: Tensor, pos: Tensor, edge_index: Tensor | None = None,
                         batch: Tensor | None = None) -> Tensor:
        """:attr:`expression` evaluated node by node on the edges, then scattered to the
        destinations and added to the self-connection; equals :meth:`forward`."""
        edge_index = self._graph(x, pos, edge_index, batch)
        y, w = self.filter(pos.to(x.dtype), edge_index)
        eye = torch.eye(self.tp.irreps_out.dim, dtype=x.dtype, device=x.device)
        per_edge = evaluate(self.expression,
                            {"X_e": x[edge_index[0]], "Gamma_e": self.tp.structure_constants(w),
                             "Y_e": y},
                            {"L": self.linear(eye)})
        summed = scatter_sum(per_edge, edge_index[1], x.shape[0])
        return summed / math.sqrt(self.avg_neighbors) + self.self_connection(x)

    def extra_repr(self) -> str:
        return (f"{self.irreps_in} → {self.irreps_out}, lmax={self.filter.lmax}, "
                f"r_max={self.filter.r_max}")
