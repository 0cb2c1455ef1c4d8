"""The DTN experiment: every row and plot at the tiny size; the equal-time interpolation
against values worked by hand; the two models of a budget have the same size."""

import math
from pathlib import Path

import pytest
import torch
from matplotlib.image import imread

from prodint.experiments.dtn_softmax import bpc_at_seconds, config_for, eval_seconds, run
from prodint.experiments.protocol import Budget
from prodint.experiments.shakespeare import build_models

HISTORY = {"steps": list(range(1, 11)), "eval_steps": [2, 6, 10],
           "validation_bpc": [4.0, 3.0, 2.0], "train_seconds": 5.0}


def test_tiny_budget_produces_every_row_and_plot(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    (section,) = run(Budget("tiny"), tmp_path)
    assert torch.get_num_threads() == threads  # the one-thread training is undone
    assert [row[0] for row in section.rows] == ["dtn", "softmax"] and section.passed
    assert section.columns[:4] == ["model", "parameters", "bits/char (final step)",
                                   "bits/char (equal wall clock)"]
    # Bits per character of a model that has barely trained: near log2(84) = 6.4.
    for row in section.rows:
        assert row[1] > 0 and 0 < row[2] < 10
        assert row[3] == "—" or 0 < row[3] < 10
        assert row[4] > 0 and row[5] > 0 and row[6]
    # The faster model's equal-time value is its own final value.
    faster = [row for row in section.rows if row[3] == row[2]]
    assert faster
    assert section.command == "prodint reproduce --only dtn-softmax --quick --seed 0 " \
                              "--out reports/dtn-softmax"
    assert section.plots == ["dtn-softmax-bpc-steps.png", "dtn-softmax-bpc-seconds.png"]
    for name in section.plots:
        image = imread(tmp_path / name)
        assert image.ndim == 3 and min(image.shape[:2]) > 100
    assert (tmp_path / "runs" / "dtn-softmax" / "results.json").is_file()


def test_equal_time_interpolates_the_validation_curve() -> None:
    # 10 steps in 5 s: evaluations at 1 s, 3 s and 5 s.
    assert eval_seconds(HISTORY) == [1.0, 3.0, 5.0]
    assert bpc_at_seconds(HISTORY, 0.5) is None
    assert bpc_at_seconds(HISTORY, 1.0) == 4.0
    assert math.isclose(bpc_at_seconds(HISTORY, 2.0), 3.5)
    assert math.isclose(bpc_at_seconds(HISTORY, 4.5), 2.25)
    assert bpc_at_seconds(HISTORY, 9.0) == 2.0
    with pytest.raises(ValueError, match=r"^seconds: expected"):
        bpc_at_seconds(HISTORY, -1.0)
    with pytest.raises(ValueError, match=r"^history: expected eval_steps"):
        eval_seconds({"steps": [1]})
    with pytest.raises(TypeError, match=r"^history: expected a dict"):
        eval_seconds([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize("size", ["tiny", "quick", "full"])
def test_the_two_models_have_the_same_size(size: str) -> None:
    config = config_for(Budget(size))
    models = build_models(84, config)
    counts = [sum(p.numel() for p in m.parameters()) for m in models.values()]
    assert abs(counts[0] - counts[1]) <= 0.1 * max(counts)
    assert min(counts) > 84 * config.width  # the tied embedding alone
