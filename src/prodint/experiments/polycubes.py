"""The rotated-polycube experiment: an equivariant network against an MLP on coordinates.

Both models are trained on polycubes in their canonical orientation (or under a few fixed
rotations, ``train_rotations``) and evaluated on Haar-random rotations
(:mod:`prodint.data.polycubes`):

- :class:`PolycubeTFN`: three tensor-field-network convolutions
  (:class:`~prodint.symmetry.tfn.PointConvolution`) on the fully connected graph of the four
  cube centres, with norm nonlinearities, the last one producing scalars ``0e`` and
  pseudoscalars ``0o``; their mean over the points (rotation invariant) feeds a linear
  classifier. Invariant by construction, so its accuracy does not depend on the orientation;
  the pseudoscalars separate the two mirror-image shapes.
- :class:`CoordinateMLP`: an MLP on the flattened ``[4·3]`` centred coordinates.

``prodint symmetry`` runs it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from prodint.data.polycubes import CLASSES, make_polycubes
from prodint.symmetry.graph import radius_graph
from prodint.symmetry.linear import NormActivation
from prodint.symmetry.tfn import PointConvolution

__all__ = [
    "CoordinateMLP",
    "ExperimentResult",
    "PolycubeTFN",
    "results_as_dicts",
    "run_polycube_experiment",
]

HIDDEN = "8x0e + 4x0o + 4x1o + 4x1e + 2x2e + 2x2o"
#: Every cube centre of a tetracube is within 3 of the others; 3.5 connects them all.
R_MAX = 3.5


class PolycubeTFN(nn.Module):
    """Invariant polycube classifier: ``pos [B, P, 3] → logits [B, classes]`` (module doc)."""

    def __init__(self, classes: int = len(CLASSES), hidden: str = HIDDEN,
                 n_scalars: int = 8) -> None:
        super().__init__()
        out = f"{n_scalars}x0e + {n_scalars}x0o"
        self.convs = nn.ModuleList([
            PointConvolution("1x0e", hidden, lmax=2, r_max=R_MAX, avg_neighbors=3.0),
            PointConvolution(hidden, hidden, lmax=2, r_max=R_MAX, avg_neighbors=3.0),
            PointConvolution(hidden, out, lmax=2, r_max=R_MAX, avg_neighbors=3.0),
        ])
        self.acts = nn.ModuleList([NormActivation(hidden), NormActivation(hidden)])
        self.head = nn.Linear(2 * n_scalars, classes)

    def forward(self, pos: Tensor) -> Tensor:
        batch, points, _ = pos.shape
        flat = pos.reshape(batch * points, 3)
        cloud = torch.arange(batch, device=pos.device).repeat_interleave(points)
        edges = radius_graph(flat, R_MAX, cloud)
        x = flat.new_ones(batch * points, 1)
        for i, conv in enumerate(self.convs):
            x = conv(x, flat, edges)
            if i < len(self.acts):
                x = self.acts[i](x)
        return self.head(x.view(batch, points, -1).mean(1))


class CoordinateMLP(nn.Module):
    """``pos [B, P, 3] → logits``: an MLP on the flattened coordinates."""

    def __init__(self, points: int = 4, classes: int = len(CLASSES), hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3 * points, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, classes))

    def forward(self, pos: Tensor) -> Tensor:
        return self.net(pos.flatten(1))


@dataclass
class ExperimentResult:
    """Accuracies of one model (fractions in ``[0, 1]``)."""

    model: str
    parameters: int
    train_accuracy: float
    canonical_accuracy: float
    rotated_accuracy: float
    seconds: float


def _accuracy(model: nn.Module, pos: Tensor, labels: Tensor) -> float:
    with torch.no_grad():
        return float((model(pos).argmax(-1) == labels).float().mean())


def run_polycube_experiment(*, steps: int = 200, batch_per_class: int = 8,
                            test_per_class: int = 64, train_rotations: int = 0,
                            noise: float = 0.02, seed: int = 0, lr: float = 1e-2
                            ) -> list[ExperimentResult]:
    """Train both models with Adam on the training regime, evaluate on random rotations.

    Args:
        steps: optimisation steps per model.
        batch_per_class: samples per class in each training batch (freshly jittered).
        test_per_class: randomly rotated test samples per class.
        train_rotations: 0 for the canonical orientation only, else that many fixed rotations.
        noise: coordinate jitter of the training samples.
        seed: seeds the data and the initialisations.
        lr: Adam learning rate.

    Returns:
        One :class:`ExperimentResult` per model (``"tfn"``, ``"mlp"``).
    """
    results = []
    gen = torch.Generator().manual_seed(seed + 1)
    test_pos, test_labels = make_polycubes(test_per_class, rotations="random", generator=gen)
    canon_pos, canon_labels = make_polycubes(1, rotations="none")
    regime: str | int = "none" if train_rotations == 0 else train_rotations
    for name, build in (("tfn", PolycubeTFN), ("mlp", CoordinateMLP)):
        torch.manual_seed(seed)
        model = build()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        data_gen = torch.Generator().manual_seed(seed + 2)
        start = time.perf_counter()
        for _ in range(steps):
            # The same fixed rotations every step: re-seed their draw, then jitter afresh.
            rot_gen = torch.Generator().manual_seed(seed + 3)
            pos, labels = make_polycubes(batch_per_class, rotations=regime, generator=rot_gen)
            pos = pos + noise * torch.randn(pos.shape, generator=data_gen)
            loss = nn.functional.cross_entropy(model(pos), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        train_pos, train_labels = make_polycubes(
            batch_per_class, rotations=regime, generator=torch.Generator().manual_seed(seed + 3))
        results.append(ExperimentResult(
            name, sum(p.numel() for p in model.parameters()),
            _accuracy(model, train_pos, train_labels), _accuracy(model, canon_pos, canon_labels),
            _accuracy(model, test_pos, test_labels), round(seconds, 3)))
    return results


def results_as_dicts(results: list[ExperimentResult]) -> list[dict[str, object]]:
    """JSON-ready rows."""
    return [asdict(r) for r in results]
