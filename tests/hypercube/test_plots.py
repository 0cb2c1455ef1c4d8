"""Figures: rendered to PNG bytes (the application writes them atomically)."""

import pytest
import torch

from prodint.groups import cyclic
from prodint.hypercube import analyze_table, plots
from prodint.hypercube.recipe import Recipe

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def analysis():
    return analyze_table(cyclic(3).table, recipe=Recipe(max_steps=5, restarts=0,
                                                        dtype=torch.float64))


def test_figures_are_png_bytes(analysis) -> None:
    assert plots.render_training(analysis.result).startswith(PNG)
    assert plots.render_spectra(analysis.diagnostics).startswith(PNG)


def test_arguments_are_checked(analysis) -> None:
    with pytest.raises(TypeError, match="result: expected a TrainResult, received Diagnostics"):
        plots.render_training(analysis.diagnostics)
    with pytest.raises(TypeError, match="diagnostics: expected a Diagnostics, received None"):
        plots.render_spectra(None)
