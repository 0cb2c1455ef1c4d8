"""Figures of a HyperCube run (matplotlib, Agg backend): training curves and spectra."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from prodint.hypercube.diagnostics import Diagnostics
from prodint.hypercube.train import TrainResult


def plot_training(result: TrainResult, path: Path) -> Path:
    """Train loss per pair, ``H/3n²`` and ``ε`` over the steps of every attempt."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    offset = 0
    for k, attempt in enumerate(result.attempts):
        steps = range(offset + 1, offset + len(attempt.history.loss) + 1)
        label = f"attempt {k}" + (" (chosen)" if k == result.best_index else "")
        axes[0].semilogy(steps, attempt.history.loss, label=label)
        axes[1].plot(steps, attempt.history.h_ratio, label=label)
        axes[2].semilogy(steps, [max(e, 1e-12) for e in attempt.history.eps], label=label)
        offset += len(attempt.history.loss)
    axes[1].axhline(1.0, color="k", lw=0.6, ls="--")
    for ax, title in zip(axes, ("train loss per pair", "H / 3n²", "ε"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("step")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_spectra(diagnostics: Diagnostics, path: Path) -> Path:
    """Singular values of every factor matrix (one thin line per matrix; 1 when unitary)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
    for ax, (name, values) in zip(axes, diagnostics.spectra.items(), strict=True):
        for row in values:
            ax.plot(range(1, len(row) + 1), row.numpy(), lw=0.6, alpha=0.6)
        ax.set_title(f"singular values of {name}_x")
        ax.set_xlabel("index")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
