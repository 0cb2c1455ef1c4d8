"""A span-based graph layer: node classification on a graph with communities.

A graph convolution is the span ``X ←s− E −t→ Y`` over the edges ``E``:
``y[v] = Σ_{(u,v)∈E} ν_uv x[u] W`` with ``ν_uv = 1/√(deg u · deg v)``
(``prodint.spans.graph(..., normalize="sym")``); its forward and backward passes are
gathers, multiplies and scatter-adds over the edges, never a dense ``N × N`` matrix.

The graph is drawn from a stochastic block model (communities of nodes, dense inside, sparse
between); each node's features are its community's one-hot code buried in noise, and only a
few nodes per community are labelled. A two-layer graph network on spans trains beside an
MLP that ignores the graph, and both report their accuracy on the unlabelled nodes. The
script also checks the span against the dense normalised adjacency ``D^-1/2 A D^-1/2``.
``--small`` (or ``PRODINT_DOCS_SMALL=1``) uses a small graph and a few steps.

    python examples/graph_span.py [--small] [--steps N]
"""

import argparse
import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.spans import Span, graph


def block_model(communities: int, size: int, p_in: float, p_out: float,
                generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``(edge_index [2, E], community [N])`` of an undirected stochastic block model, with a
    self-loop on every node."""
    community = torch.arange(communities).repeat_interleave(size)
    same = community[:, None] == community[None, :]
    chance = torch.where(same, p_in, p_out)
    upper = (torch.rand(chance.shape, generator=generator) < chance).triu(1)
    adjacency = upper | upper.T | torch.eye(len(community), dtype=torch.bool)
    return adjacency.nonzero().T.contiguous(), community


class SpanGCN(nn.Module):
    """Two graph convolutions on one span: ``y = Â relu(Â x W1) W2``."""

    def __init__(self, span: Span, features: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.span = span
        self.W1 = nn.Parameter(torch.randn(1, features, hidden) / features ** 0.5)
        self.W2 = nn.Parameter(torch.randn(1, hidden, classes) / hidden ** 0.5)

    def forward(self, x: Tensor) -> Tensor:
        """``[N, features]`` node features → ``[N, classes]`` scores."""
        return self.span(self.W2, F.relu(self.span(self.W1, x)))


def fit(model: nn.Module, x: Tensor, labels: Tensor, known: Tensor, steps: int) -> float:
    """Train on the labelled nodes ``known``; the accuracy on the others."""
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=5e-4)
    for _ in range(steps):
        loss = F.cross_entropy(model(x)[known], labels[known])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        return float((model(x).argmax(-1) == labels)[~known].float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a small graph, a few steps")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps")
    args = parser.parse_args()
    small = args.small or os.environ.get("PRODINT_DOCS_SMALL") == "1"
    steps = args.steps if args.steps is not None else (20 if small else 200)
    communities, size = (3, 20) if small else (4, 100)
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    edges, community = block_model(communities, size, 0.3 if small else 0.1, 0.01, generator)
    n = len(community)
    x = F.one_hot(community, communities).float() + 1.5 * torch.randn(n, communities,
                                                                      generator=generator)
    known = torch.zeros(n, dtype=torch.bool)
    for c in range(communities):
        known[(community == c).nonzero()[:3, 0]] = True      # three labelled nodes each
    span = graph(edges, n, normalize="sym")
    print(f"graph: {n} nodes, {edges.shape[1]} edges (self-loops included); span of "
          f"{len(span.source)} elements")

    adjacency = torch.zeros(n, n)
    adjacency[edges[1], edges[0]] = 1.0
    degree = adjacency.sum(1)
    normalised = adjacency / (degree[:, None] * degree[None, :]).sqrt()
    w = torch.randn(1, communities, 5)
    print("span == D^-1/2 A D^-1/2 X W:",
          torch.allclose(span(w, x), normalised @ x @ w[0], atol=1e-5))

    gcn = fit(SpanGCN(span, communities, 16, communities), x, community, known, steps)
    mlp = fit(nn.Sequential(nn.Linear(communities, 16), nn.ReLU(),
                            nn.Linear(16, communities)), x, community, known, steps)
    print(f"accuracy on the {int((~known).sum())} unlabelled nodes: span GCN {gcn:.3f}, "
          f"MLP without the graph {mlp:.3f}")


if __name__ == "__main__":
    main()
