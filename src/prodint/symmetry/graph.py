"""Point-cloud plumbing: neighbour graphs, scatter sums and softmax over edges, radial bases.

A graph over ``N`` points is an ``edge_index`` ``[2, E]`` of (source, destination) pairs; a
message flows from ``src = edge_index[0]`` to ``dst = edge_index[1]`` along the relative
position ``r = pos[src] − pos[dst]``. Gathering node values to edges and scatter-adding edge
values to nodes are the two legs of a parametric span over the edge set.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from prodint.checks import (
    check_float,
    check_int,
    check_memory,
    check_same_device,
    check_tensor,
)
from prodint.symmetry.irreps import Irreps

__all__ = [
    "RadialBasis",
    "RadialMLP",
    "check_edges",
    "check_positions",
    "neighbour_graph",
    "radius_graph",
    "scatter_softmax",
    "scatter_sum",
]


def check_positions(pos: object, argument: str = "pos") -> Tensor:
    """Validate ``[N, 3]`` floating positions; errors name ``argument``."""
    if not isinstance(pos, Tensor):
        raise TypeError(f"{argument}: expected a torch.Tensor [N, 3], received "
                        f"{type(pos).__name__}")
    if not pos.is_floating_point():
        raise TypeError(f"{argument}: expected a floating tensor, received dtype {pos.dtype}")
    if pos.dim() != 2 or pos.shape[-1] != 3:
        raise ValueError(f"{argument}: expected shape [N, 3], received {tuple(pos.shape)}")
    return pos


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


def neighbour_graph(x: Tensor, irreps: Irreps, pos: Tensor, r_max: float,
                    edge_index: Tensor | None = None, batch: Tensor | None = None) -> Tensor:
    """The edges a point layer runs on, after checking its inputs.

    ``x [N, irreps.dim]`` are the features and ``pos [N, 3]`` the positions (one row per
    point); ``edge_index`` is checked and returned when given, otherwise the
    :func:`radius_graph` of ``pos`` within each cloud of ``batch`` is built.
    """
    irreps.check(x, "x")
    check_positions(pos)
    if x.dim() != 2 or x.shape[0] != pos.shape[0]:
        raise ValueError(f"x: expected shape [{pos.shape[0]}, {irreps.dim}] (one row per "
                         f"point of pos), received {tuple(x.shape)}")
    for name, t in (("edge_index", edge_index), ("batch", batch)):
        if t is not None:
            check_tensor(t, name, dtypes=None)
    check_same_device(x=x, pos=pos, edge_index=edge_index, batch=batch)
    if edge_index is None:
        return radius_graph(pos, r_max, batch)
    return check_edges(edge_index, pos.shape[0])


def _check_batch(batch: Tensor | None, n: int) -> Tensor | None:
    if batch is None:
        return None
    if not isinstance(batch, Tensor) or batch.dtype != torch.long or batch.shape != (n,):
        shape = tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
        dtype = batch.dtype if isinstance(batch, Tensor) else None
        raise ValueError(f"batch: expected a long tensor [{n}] of cloud indices, received "
                         f"shape {shape} dtype {dtype}")
    return batch


def radius_graph(pos: Tensor, r_max: float, batch: Tensor | None = None) -> Tensor:
    """All ordered pairs ``(src, dst)``, ``src ≠ dst``, with ``|pos[src] − pos[dst]| < r_max``
    inside the same cloud (``batch`` gives each point's cloud index). Dense ``O(N²)`` distances:
    meant for clouds of up to a few thousand points. Returns ``[2, E]`` long."""
    check_positions(pos)
    batch = _check_batch(batch, pos.shape[0])
    check_float(r_max, "r_max", minimum=0.0, strict_minimum=True)
    with torch.no_grad():
        dist = torch.cdist(pos, pos)
        mask = dist < r_max
        mask.fill_diagonal_(False)
        if batch is not None:
            mask &= batch[:, None] == batch[None, :]
        src, dst = mask.nonzero(as_tuple=True)
    return torch.stack([src, dst])


def scatter_sum(values: Tensor, index: Tensor, size: int) -> Tensor:
    """``out[n] = Σ_{e : index[e] = n} values[e]``: ``[E, ...] → [size, ...]``."""
    out = values.new_zeros(size, *values.shape[1:])
    return out.index_add(0, index, values)


def scatter_softmax(logits: Tensor, index: Tensor, size: int) -> Tensor:
    """Softmax of ``logits [E, ...]`` over the edges sharing ``index[e]`` (per destination).

    The per-group maximum is subtracted first (it cancels, so the result is exact and
    overflow-free)."""
    expanded = index.view(-1, *([1] * (logits.dim() - 1))).expand_as(logits)
    peak = logits.new_full((size, *logits.shape[1:]), -math.inf)
    peak = peak.scatter_reduce(0, expanded, logits.detach(), reduce="amax", include_self=True)
    e = torch.exp(logits - peak[index])
    return e / scatter_sum(e, index, size)[index]


class RadialBasis(nn.Module):
    """``|r| → [..., n]``: Gaussians centred on ``linspace(0, r_max, n)`` of width
    ``r_max / n``, times the smooth cutoff ``(cos(π r / r_max) + 1) / 2`` (zero from
    ``r_max`` on, so the layer is continuous as points enter and leave the radius)."""

    centers: Tensor

    def __init__(self, r_max: float, n: int = 8) -> None:
        super().__init__()
        # r_max / n is the Gaussians' width: a finite, positive radius keeps it so
        self.r_max = check_float(r_max, "r_max", minimum=0.0, strict_minimum=True,
                                 maximum=1e150)
        self.n = check_int(n, "n_basis", minimum=1, maximum=1 << 16)
        self.register_buffer("centers", torch.linspace(0.0, r_max, n), persistent=False)

    def cutoff(self, r: Tensor) -> Tensor:
        return 0.5 * (torch.cos(math.pi * r / self.r_max) + 1) * (r < self.r_max)

    def forward(self, r: Tensor) -> Tensor:
        width = self.r_max / self.n
        gauss = torch.exp(-(((r[..., None] - self.centers.to(r.dtype)) / width) ** 2))
        return gauss * self.cutoff(r)[..., None]


class RadialMLP(nn.Module):
    """``|r| → [..., out]``: :class:`RadialBasis`, ``Linear → SiLU → Linear``, times the
    cutoff (so the output vanishes from ``r_max`` on)."""

    def __init__(self, r_max: float, out: int, n_basis: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.basis = RadialBasis(r_max, n_basis)
        check_int(out, "out", minimum=1)
        check_int(hidden, "hidden", minimum=1)
        check_memory(((n_basis + 1) * hidden + (hidden + 1) * out) * 4, "n_basis, hidden, out",
                     "radial network")
        self.net = nn.Sequential(nn.Linear(n_basis, hidden), nn.SiLU(), nn.Linear(hidden, out))

    def forward(self, r: Tensor) -> Tensor:
        return self.net(self.basis(r)) * self.basis.cutoff(r)[..., None]
