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

from prodint.checks import check_float, check_int, check_memory, check_tensor
from prodint.data.polycubes import CLASSES, make_polycubes
from prodint.symmetry.graph import radius_graph
from prodint.symmetry.linear import NormActivation
from prodint.symmetry.tfn import PointConvolution

__all__ = [
    "MAX_STEPS",
    "CoordinateMLP",
    "ExperimentResult",
    "PolycubeTFN",
    "check_experiment",
    "results_as_dicts",
    "run_polycube_experiment",
]

#: The most optimisation steps a run takes: far more than the experiment needs (a few
#: hundred reach its accuracy); a larger count is a mistake, refused before training.
MAX_STEPS = 10**7
#: Tensor memory of one sample (4 points) through the TFN's forward and backward, measured
#: (about 80 KiB in float32), for the size check of a batch.
SAMPLE_BYTES = 80 << 10

HIDDEN = "8x0e + 4x0o + 4x1o + 4x1e + 2x2e + 2x2o"
#: Every cube centre of a tetracube is within 3 of the others; 3.5 connects them all.
R_MAX = 3.5


def _check_positions(pos: object, weight: Tensor, points: int | None = None) -> Tensor:
    """``pos`` as ``[B, P, 3]`` coordinates in the dtype and on the device of ``weight``
    (``P = points`` where given)."""
    pos = check_tensor(pos, "pos", shape=(None, points, 3), layout="[B, P, 3]")
    if pos.dtype != weight.dtype:
        raise TypeError(f"pos: expected dtype {weight.dtype} (that of the parameters), "
                        f"received {pos.dtype}")
    if pos.device != weight.device:
        raise ValueError(f"pos: expected a tensor on {weight.device} (that of the "
                         f"parameters), received one on {pos.device}")
    return pos


class PolycubeTFN(nn.Module):
    """Invariant polycube classifier: ``pos [B, P, 3] → logits [B, classes]`` (module doc)."""

    def __init__(self, classes: int = len(CLASSES), hidden: str = HIDDEN,
                 n_scalars: int = 8) -> None:
        """Raises ``TypeError``/``ValueError`` for a count that is not a positive int (at
        most 4096) and for irreps the convolutions refuse."""
        super().__init__()
        classes = check_int(classes, "classes", minimum=1, maximum=4096)
        n_scalars = check_int(n_scalars, "n_scalars", minimum=1, maximum=4096)
        if not isinstance(hidden, str):
            raise TypeError(f"hidden: expected irreps as a str, received "
                            f"{type(hidden).__name__} {hidden!r:.60}")
        out = f"{n_scalars}x0e + {n_scalars}x0o"
        try:
            self.convs = nn.ModuleList([
                PointConvolution("1x0e", hidden, lmax=2, r_max=R_MAX, avg_neighbors=3.0),
                PointConvolution(hidden, hidden, lmax=2, r_max=R_MAX, avg_neighbors=3.0),
                PointConvolution(hidden, out, lmax=2, r_max=R_MAX, avg_neighbors=3.0),
            ])
            self.acts = nn.ModuleList([NormActivation(hidden), NormActivation(hidden)])
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"hidden: expected irreps such as {HIDDEN!r}, received "
                             f"{hidden!r:.60} ({error})") from None
        self.head = nn.Linear(2 * n_scalars, classes)

    def forward(self, pos: Tensor) -> Tensor:
        """``pos [B, P, 3]`` (float32 or float64, the parameters' dtype) to ``[B, classes]``."""
        _check_positions(pos, self.head.weight)
        batch, points, _ = pos.shape
        flat = pos.reshape(batch * points, 3)
        cloud = torch.arange(batch, device=pos.device).repeat_interleave(points)
        edges = radius_graph(flat, R_MAX, cloud)
        x = flat.new_ones(batch * points, 1)
        for i, conv in enumerate(self.convs):
            x = conv(x, flat, edges)
            if i < len(self.acts):
                x = self.acts[i](x)
        return self.head(x.view(batch, points, x.shape[-1]).mean(1))


class CoordinateMLP(nn.Module):
    """``pos [B, P, 3] → logits``: an MLP on the flattened coordinates."""

    def __init__(self, points: int = 4, classes: int = len(CLASSES), hidden: int = 64) -> None:
        """Raises ``TypeError``/``ValueError`` for a count that is not a positive int (at
        most 4096)."""
        super().__init__()
        points = check_int(points, "points", minimum=1, maximum=4096)
        classes = check_int(classes, "classes", minimum=1, maximum=4096)
        hidden = check_int(hidden, "hidden", minimum=1, maximum=4096)
        self.points = points
        self.net = nn.Sequential(nn.Linear(3 * points, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, classes))

    def forward(self, pos: Tensor) -> Tensor:
        """``pos [B, points, 3]`` (the parameters' dtype) to ``[B, classes]``."""
        _check_positions(pos, self.net[0].weight, self.points)
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

    def __post_init__(self) -> None:
        if not isinstance(self.model, str):
            raise TypeError(f"model: expected a str, received {type(self.model).__name__} "
                            f"{self.model!r:.60}")
        check_int(self.parameters, "parameters", minimum=0)
        for name in ("train_accuracy", "canonical_accuracy", "rotated_accuracy"):
            check_float(getattr(self, name), name, minimum=0.0, maximum=1.0)
        check_float(self.seconds, "seconds", minimum=0.0)


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

    Raises:
        TypeError, ValueError: as :func:`check_experiment`, before any work.
    """
    check_experiment(steps=steps, batch_per_class=batch_per_class,
                     test_per_class=test_per_class, train_rotations=train_rotations,
                     noise=noise, seed=seed, lr=lr)
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


def check_experiment(*, steps: int = 200, batch_per_class: int = 8, test_per_class: int = 64,
                     train_rotations: int = 0, noise: float = 0.02, seed: int = 0,
                     lr: float = 1e-2) -> None:
    """Refuse the arguments of :func:`run_polycube_experiment` (same meaning) that it cannot
    run, without running anything: ``prodint symmetry`` checks its options with it.

    Raises:
        TypeError: a count or seed that is not an int, a real that is not a number.
        ValueError: a count below 1 (``train_rotations`` below 0), ``steps`` above
            :data:`MAX_STEPS`, a seed outside ``[0, 2**63 - 1]``, a ``noise`` outside
            ``[0, 10]``, a ``lr`` outside ``(0, 10]``, or batches, test set or
            rotations that would not fit in memory (:func:`prodint.checks.check_memory`).
    """
    check_int(steps, "steps", minimum=1, maximum=MAX_STEPS)
    batch_per_class = check_int(batch_per_class, "batch_per_class", minimum=1)
    test_per_class = check_int(test_per_class, "test_per_class", minimum=1)
    train_rotations = check_int(train_rotations, "train_rotations", minimum=0)
    check_int(seed, "seed", minimum=0, maximum=2**63 - 1)
    # Coordinates are a few units: a jitter or an Adam step above 10 is a mistake (and a
    # large enough one overflows float32).
    check_float(noise, "noise", minimum=0.0, maximum=10.0)
    check_float(lr, "lr", minimum=0.0, strict_minimum=True, maximum=10.0)
    classes = len(CLASSES)
    check_memory(batch_per_class * classes * SAMPLE_BYTES, "batch_per_class",
                 "training batch")
    check_memory(test_per_class * classes * SAMPLE_BYTES, "test_per_class", "test set")
    check_memory(train_rotations * 9 * 4, "train_rotations", "fixed rotations")


def results_as_dicts(results: list[ExperimentResult]) -> list[dict[str, object]]:
    """JSON-ready rows.

    Raises:
        TypeError: ``results`` is not a list of :class:`ExperimentResult`.
    """
    if not isinstance(results, list | tuple) or \
            not all(isinstance(r, ExperimentResult) for r in results):
        raise TypeError(f"results: expected a list of ExperimentResult, received "
                        f"{type(results).__name__} {results!r:.60}")
    return [asdict(r) for r in results]
