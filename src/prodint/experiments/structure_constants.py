"""Learned structure constants, free, symmetry-regularized and symmetry-constrained, on images.

The source trains a product whose structure constants ``Γ`` are learned in three modes (those
of :class:`~prodint.algebra.learned.LearnedAlgebra`) and reports MNIST test accuracies 0.445
(free), 0.943 (regularized) and 0.988 (constrained). Here the algebra is the space ``R^W`` of
one image row (``W`` pixels), and the symmetry the cyclic group ``C_W`` translating a row
(its regular representation, a permutation of the pixels): the equivariant products are those
with ``Γ(τx, τy) = τΓ(x, y)`` for every translation ``τ``, i.e.
``Γ[a, b, c] = f(b - a, c - a)``, a translation-equivariant *quadratic convolution* of rows
with ``W²`` coefficients instead of ``W³`` (legs ``a``, ``b``, ``c`` all moved).

The model, :class:`RowProductNet`, lets the learned product do all the nonlinear work. An
image ``x ∈ [B, 1, H, W]`` is read as ``H`` rows; two linear maps over the rows (which
commute with translations of a row) make ``K`` pairs of row elements, multiplied in the
algebra, and a linear head reads the ``K`` products::

    u_k = Σ_r A[k, r] x_r + α_k,   v_k = Σ_r B[k, r] x_r + β_k          (u, v: [B, K, W])
    p_k = u_k ·_Γ v_k,   (u ·_Γ v)_c = Σ_{a,b} Γ[a, b, c] u_a v_b         (p: [B, K, W])
    logits = LN(p.flatten()) Wᵀ + b                                      ([B, classes])

so the pixels reach the logits through the products alone: besides the normalisation, the
product is the model's only nonlinearity (a linear model of the rows has none). Only ``Γ`` is
tied to the symmetry; the head reads every position. The data sets are scikit-learn's digits
(``W = 8``), MNIST-5k and, where it is installed (:data:`~prodint.data.images.FASHION_ROOT`),
Fashion-MNIST (``W = 28``); a note says when Fashion-MNIST is skipped. The three modes
have the same ``A, B, α, β``, norm and head, drawn from the same seed; only ``Γ`` differs: a
free ``[W, W, W]`` parameter (free; regularized, with the trainer adding
``λ ||Γ - P_G Γ||²``, ``λ =`` :data:`PENALTY`) or ``W²`` orbit coefficients ``θ``
(constrained). Every run trains from the same seed, with the same steps, batch and learning
rate and no weight decay (which would treat the ``[W, W, W]`` ``Γ`` and the vector ``θ``
differently). Each row of the table gives the test accuracy and the relative equivariance
error ``||Γ - P_G Γ|| / ||Γ||`` of the learned ``Γ`` (``P_G``: the average over the ``W``
translations; 0 up to rounding for the constrained mode).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from prodint.algebra.learned import MODES, LearnedAlgebra
from prodint.checks import (
    check_choice,
    check_dtype,
    check_int,
    check_parameter_memory,
    check_seed,
    check_tensor,
)
from prodint.data.images import FASHION_ROOT
from prodint.experiments.figures import new_figure, write_png
from prodint.experiments.protocol import Budget, Experiment, command
from prodint.groups import cyclic, regular
from prodint.report import Section
from prodint.train.config import TrainConfig
from prodint.train.tasks import TASKS
from prodint.train.trainer import NonFiniteLossError, train
from prodint.zoo import Dense

__all__ = ["COLUMNS", "DATASETS", "EXPERIMENT", "EXPERIMENT_NAME", "PENALTY", "SOURCE",
           "RowProductNet", "equivariance_error", "run"]

EXPERIMENT_NAME = "structure-constants"
#: The data sets, in the order of the table (``fashion`` only where it is installed).
DATASETS = ("digits", "mnist5k", "fashion")
#: The source's MNIST test accuracy per mode.
SOURCE = {"free": 0.445, "regularized": 0.943, "constrained": 0.988}
#: The weight ``λ`` of the symmetry penalty in the regularized mode.
PENALTY = 1.0
#: The columns of the table.
COLUMNS = ["dataset", "mode", "parameters", "test accuracy", "equivariance error",
           "source", "seconds"]


class RowProductNet(nn.Module):
    """Rows of an image multiplied in a learned algebra on ``R^W`` (module docstring).

    Args:
        height, width: the image size ``H × W`` (the algebra has dimension ``W``).
        classes: the number of classes.
        mode: ``"free"``, ``"regularized"`` or ``"constrained"`` (of ``Γ``).
        channels: the number ``K`` of row products.
        seed: the seed of every initial weight; ``Γ`` (or ``θ``) is drawn from a generator
            of its own seeded alike, so the other weights are the same in every mode.
        dtype: float32 or float64.

    Attributes:
        algebra: the :class:`~prodint.algebra.learned.LearnedAlgebra` (symmetry
            ``regular(C_W)`` in every mode, monitored in the free one).

    Raises:
        TypeError, ValueError: a size that is not a positive int, an unknown mode, a seed or
            dtype of the wrong kind.
    """

    def __init__(self, height: int, width: int, classes: int, *, mode: str,
                 channels: int = 16, seed: int = 0, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.height = check_int(height, "height", minimum=1)
        self.width = check_int(width, "width", minimum=1)
        check_int(classes, "classes", minimum=2)
        self.channels = check_int(channels, "channels", minimum=1)
        check_choice(mode, "mode", MODES)
        seed = check_seed(seed)
        check_dtype(dtype, dtypes=(torch.float32, torch.float64), optional=False)
        check_parameter_memory(2 * channels * (height + 1) + 2 * channels * width
                               + (channels * width + 1) * classes + width ** 3,
                               "height, width, classes, channels", dtype)
        generator = torch.Generator().manual_seed(seed)
        scale = 1.0 / math.sqrt(height)
        self.rows = nn.Parameter(
            torch.randn(2, channels, height, generator=generator, dtype=dtype) * scale)
        self.offsets = nn.Parameter(torch.zeros(2, channels, 1, dtype=dtype))
        self.norm = nn.LayerNorm(channels * width, dtype=dtype)
        self.head = Dense(channels * width, classes, generator=generator, dtype=dtype)
        self.algebra = LearnedAlgebra(
            width, symmetry=regular(cyclic(width)), mode=mode, name=f"Row{width}",
            generator=torch.Generator().manual_seed(seed))
        self.algebra.to(dtype)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, classes]`` of images ``x ∈ [B, 1, H, W]``."""
        x = check_tensor(x, "x", rank=4, shape=(None, 1, self.height, self.width),
                         layout="[B, 1, H, W]", dtypes=(self.rows.dtype,))
        pairs = torch.einsum("pkr,brw->pbkw", self.rows, x[:, 0]) + self.offsets[:, None]
        products = self.algebra(pairs[0], pairs[1])
        return self.head(self.norm(products.flatten(1)))


def equivariance_error(gamma: Tensor) -> float:
    """``||Γ - P_G Γ|| / ||Γ||`` for ``Γ ∈ [W, W, W]`` and ``G = C_W`` translating all three
    legs: ``P_G Γ = (1/W) Σ_t Γ[a + t, b + t, c + t]`` (indices mod ``W``); 0 for ``Γ = 0``.

    Raises:
        TypeError, ValueError: ``gamma`` is not a floating ``[W, W, W]`` tensor.
    """
    gamma = check_tensor(gamma, "gamma", rank=3, layout="[W, W, W]")
    n = gamma.shape[0]
    if gamma.shape != (n, n, n):
        raise ValueError(f"gamma: expected shape [W, W, W], received {tuple(gamma.shape)}")
    with torch.no_grad():
        g = gamma.detach().to(torch.float64)
        mean = sum(torch.roll(g, (t, t, t), (0, 1, 2)) for t in range(n)) / n
        norm = float(g.norm())
        return float((g - mean).norm()) / norm if norm > 0 else 0.0


def _settings(budget: Budget) -> dict[str, Any]:
    return dict(steps=budget.pick(4, 150, 1000), channels=budget.pick(4, 16, 32),
                eval_limit=budget.pick(64, 500, 10_000), batch=budget.pick(16, 64, 128))


def _train(task: str, mode: str, budget: Budget, out: Path) -> dict[str, Any]:
    """One run: ``{"model", "records", "accuracy", "tested", "seconds"}`` (``accuracy`` NaN
    when the loss diverged; ``tested``: the number of test images evaluated)."""
    s = _settings(budget)
    config = TrainConfig(task=task, mixer=f"row-product-{mode}", steps=s["steps"],
                         batch=s["batch"], lr=3e-3, weight_decay=0.0,
                         warmup=max(1, s["steps"] // 20), eval_every=max(1, s["steps"] // 10),
                         checkpoint_every=s["steps"], log_every=max(1, s["steps"] // 10),
                         eval_limit=s["eval_limit"], seed=budget.seed, device=budget.device,
                         symmetry_penalty=PENALTY if mode == "regularized" else 0.0)
    data = TASKS[task].load(budget.seed, None)
    height, width = data.train_x.shape[-2:]
    model = RowProductNet(int(height), int(width), int(data.classes), mode=mode,
                          channels=s["channels"], seed=budget.seed)
    tested = min(s["eval_limit"], int(data.test_x.shape[0]))
    began = time.perf_counter()
    try:
        result = train(config, out / "runs" / f"{task}-{mode}", model=model)
    except NonFiniteLossError:
        return dict(model=model, records=[], accuracy=math.nan, tested=tested,
                    seconds=time.perf_counter() - began)
    return dict(model=model, records=result.records, accuracy=result.final["eval_accuracy"],
                tested=tested, seconds=time.perf_counter() - began)


def _datasets() -> tuple[list[str], list[str]]:
    """The data sets to run and the notes on those skipped."""
    if FASHION_ROOT.is_dir():
        return list(DATASETS), []
    return list(DATASETS[:2]), [
        f"Fashion-MNIST skipped: it is not installed under {FASHION_ROOT} (install it with "
        "`apt install dataset-fashion-mnist`)."]


def _plot_accuracy(runs: dict[tuple[str, str], dict[str, Any]], datasets: list[str],
                   path: Path) -> None:
    figure = new_figure(7, 4)
    axes = figure.add_subplot()
    bar = 0.8 / len(MODES)
    for i, mode in enumerate(MODES):
        values = [runs[d, mode]["accuracy"] for d in datasets]
        places = [j + (i - 1) * bar for j in range(len(datasets))]
        bars = axes.bar(places, values, bar, label=mode)
        axes.bar_label(bars, fmt="%.3f", fontsize=7)
        if "mnist5k" in datasets:
            axes.plot([places[datasets.index("mnist5k")]], [SOURCE[mode]], "kx",
                      label="source (MNIST)" if i == 0 else None)
    axes.set_xticks(range(len(datasets)), datasets)
    axes.set(ylabel="test accuracy", ylim=(0, 1), title="Learned structure constants by mode")
    axes.legend(loc="lower right")
    write_png(figure, path)


def _plot_curves(runs: dict[tuple[str, str], dict[str, Any]], datasets: list[str],
                 path: Path) -> None:
    figure = new_figure(4.5 * len(datasets), 3.8)
    for j, dataset in enumerate(datasets):
        axes = figure.add_subplot(1, len(datasets), j + 1)
        for mode in MODES:
            points = [(r["step"] + 1, r["eval_accuracy"]) for r in runs[dataset, mode]["records"]
                      if "eval_accuracy" in r]
            axes.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                      markersize=3, label=mode)
        axes.set(xlabel="step", ylabel="test accuracy", title=dataset)
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right")
    write_png(figure, path)


def _order(runs: dict[tuple[str, str], dict[str, Any]], dataset: str) -> str:
    """The note on ``dataset``: the modes ranked by accuracy, against the source's order."""
    accuracy = {m: runs[dataset, m]["accuracy"] for m in MODES}
    ranked = sorted(MODES, key=lambda m: -accuracy[m])
    order = " ≥ ".join(f"{m} {accuracy[m]:.3f}" for m in ranked)
    spread = max(accuracy.values()) - min(accuracy.values())
    source = max(SOURCE.values()) - min(SOURCE.values())
    p, tested = accuracy[ranked[0]], runs[dataset, ranked[0]]["tested"]
    error = math.sqrt(p * (1 - p) / tested) if math.isfinite(p) else math.nan
    verdict = "the source's order" if ranked == ["constrained", "regularized", "free"] else \
        "not the source's order constrained ≥ regularized ≥ free"
    return (f"{dataset}: {order} (spread {spread:.3f}, against a standard error of "
            f"{error:.3f} for an accuracy on {tested} test images; {verdict}, whose spread "
            f"on MNIST is {source:.3f}).")


def run(budget: Budget, out: Path) -> list[Section]:
    """Train :class:`RowProductNet` in the three modes on every data set; one section."""
    datasets, notes = _datasets()
    runs = {(d, m): _train(d, m, budget, out) for d in datasets for m in MODES}
    rows, passed = [], True
    for (dataset, mode), r in runs.items():
        error = equivariance_error(r["model"].algebra.structure_constants)
        finite = math.isfinite(r["accuracy"])
        if not finite:
            notes.append(f"{dataset}, {mode}: the loss diverged (no accuracy).")
        if mode == "constrained" and error > 1e-5:
            notes.append(f"{dataset}, constrained: Γ is not equivariant (error {error:.2e}).")
        passed &= finite and (mode != "constrained" or error <= 1e-5)
        source = SOURCE[mode] if dataset == "mnist5k" else "—"
        rows.append([dataset, mode, sum(p.numel() for p in r["model"].parameters()),
                     round(r["accuracy"], 4), round(error, 4), source,
                     round(r["seconds"], 1)])
    notes += [_order(runs, dataset) for dataset in datasets]
    names = [f"{EXPERIMENT_NAME}-accuracy.png", f"{EXPERIMENT_NAME}-curves.png"]
    _plot_accuracy(runs, datasets, out / names[0])
    _plot_curves(runs, datasets, out / names[1])
    s = _settings(budget)
    intro = (
        "Structure constants Γ of a product on R^W (one image row of W pixels) learned "
        "free, regularized (penalty λ ||Γ − P_G Γ||², λ = "
        f"{PENALTY}) or constrained to the products equivariant under the cyclic "
        "translations C_W of a row (Γ[a, b, c] = f(b − a, c − a): W² coefficients instead of "
        f"W³). The model: K = {s['channels']} pairs of linear combinations of the rows, "
        "multiplied in the algebra, layer norm and a linear head, so that the product is "
        "its only nonlinearity; same architecture, seed and budget "
        f"({s['steps']} steps of batch {s['batch']}, AdamW lr 3e-3, no weight decay) for "
        "the three modes. Equivariance error: ||Γ − P_G Γ|| / ||Γ||. MNIST-5k is a "
        "5,000-image sample of MNIST (4,000 to train); the source's figures are for the "
        "full MNIST.")
    return [Section("Learned structure constants: free, regularized, constrained", intro,
                    list(COLUMNS), rows, passed=passed, notes=notes, plots=names,
                    command=command(EXPERIMENT_NAME, budget))]


EXPERIMENT = Experiment(EXPERIMENT_NAME, "Learned structure constants: free, "
                        "symmetry-regularized and symmetry-constrained on images", run,
                        quick_minutes=1.5, full_minutes=30.0)
