"""Figures of a HyperCube run (matplotlib, Agg backend): training curves and spectra.

Each figure is rendered to PNG bytes first (:func:`render_training`, :func:`render_spectra`);
:func:`plot_training` and :func:`plot_spectra` then write them atomically: to a temporary
file of a unique name in the target's folder, flushed to disk, then renamed over the target,
so a reader sees the old figure or the new one, never a partial one (a full disk leaves the
old file in place and no temporary behind).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

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


def _check_path(path: object) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path: expected a str or os.PathLike, received "
                        f"{type(path).__name__} {path!r:.60}")
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"path: expected a file path, received the folder {str(target)!r}")
    return target


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a uniquely named temporary file in its folder,
    flushed and synced, then renamed over ``path``; the temporary is removed on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's file is private; give it a plain open's mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def plot_training(result: TrainResult, path: str | os.PathLike[str]) -> Path:
    """:func:`render_training` written atomically to ``path`` (its folder created).

    Raises:
        TypeError: ``result`` is not a ``TrainResult``, ``path`` not a str or path.
        ValueError: ``path`` is a folder.
        OSError: the file cannot be written (the old file, if any, is left as it was).
    """
    target = _check_path(path)
    write_bytes_atomic(target, render_training(result))
    return target


def plot_spectra(diagnostics: Diagnostics, path: str | os.PathLike[str]) -> Path:
    """:func:`render_spectra` written atomically to ``path`` (its folder created).

    Raises:
        TypeError: ``diagnostics`` is not a ``Diagnostics``, ``path`` not a str or path.
        ValueError: ``path`` is a folder.
        OSError: the file cannot be written (the old file, if any, is left as it was).
    """
    target = _check_path(path)
    write_bytes_atomic(target, render_spectra(diagnostics))
    return target
