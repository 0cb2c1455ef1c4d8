"""Figures of a HyperCube run (matplotlib, Agg backend): training curves and spectra.

Each figure is rendered to PNG bytes (:func:`render_training`, :func:`render_spectra`); the
application writes them with its atomic writer (``prodint.report.write_atomic``), so a reader
sees the old figure or the new one, never a partial one.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from prodint.checks import check_instance
from prodint.hypercube.diagnostics import Diagnostics
from prodint.hypercube.train import TrainResult


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=110)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def render_training(result: TrainResult) -> bytes:
    """PNG of the train loss per pair, ``H/3n²`` and ``ε`` over the steps of every attempt.

    Raises:
        TypeError: ``result`` is not a :class:`~prodint.hypercube.train.TrainResult`.
    """
    check_instance(result, "result", TrainResult)
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
    return _png(fig)


def render_spectra(diagnostics: Diagnostics) -> bytes:
    """PNG of the singular values of every factor matrix (one thin line per matrix; 1 when
    unitary).

    Raises:
        TypeError: ``diagnostics`` is not a :class:`~prodint.hypercube.diagnostics.Diagnostics`.
    """
    check_instance(diagnostics, "diagnostics", Diagnostics)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
    for ax, (name, values) in zip(axes, diagnostics.spectra.items(), strict=True):
        for row in values:
            ax.plot(range(1, len(row) + 1), row.numpy(), lw=0.6, alpha=0.6)
        ax.set_title(f"singular values of {name}_x")
        ax.set_xlabel("index")
    return _png(fig)


