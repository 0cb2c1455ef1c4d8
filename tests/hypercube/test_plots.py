"""Figures: rendered to PNG bytes, written atomically (a failed write keeps the old file)."""

import errno
import os

import pytest
import torch

from prodint.groups import cyclic
from prodint.hypercube import analyze_table, plots
from prodint.hypercube.train import Recipe

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def analysis():
    return analyze_table(cyclic(3).table, recipe=Recipe(max_steps=5, restarts=0,
                                                        dtype=torch.float64))


def test_figures_are_png_files(analysis, tmp_path) -> None:
    training = plots.plot_training(analysis.result, tmp_path / "sub" / "training.png")
    spectra = plots.plot_spectra(analysis.diagnostics, str(tmp_path / "spectra.png"))
    assert training.read_bytes().startswith(PNG) and spectra.read_bytes().startswith(PNG)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["spectra.png", "sub", "training.png"]


def test_a_failed_write_keeps_the_old_figure_and_leaves_no_temporary(analysis, tmp_path,
                                                                     monkeypatch) -> None:
    target = tmp_path / "training.png"
    target.write_bytes(b"the old figure")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        plots.plot_training(analysis.result, target)
    assert target.read_bytes() == b"the old figure"
    assert [p.name for p in tmp_path.iterdir()] == ["training.png"]


def test_arguments_are_checked(analysis, tmp_path) -> None:
    with pytest.raises(TypeError, match="result: expected a TrainResult, received Diagnostics"):
        plots.plot_training(analysis.diagnostics, tmp_path / "t.png")
    with pytest.raises(TypeError, match="diagnostics: expected a Diagnostics, received None"):
        plots.render_spectra(None)
    with pytest.raises(TypeError, match=r"path: expected a str or os\.PathLike, received int"):
        plots.plot_spectra(analysis.diagnostics, 3)
    with pytest.raises(ValueError, match="path: expected a file path, received the folder"):
        plots.plot_spectra(analysis.diagnostics, tmp_path)
