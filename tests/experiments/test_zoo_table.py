"""The zoo experiment: the tiny table has one family of each order, exact to float64
rounding, with the source column, the time-ratio plot and the command."""

import math
from pathlib import Path

import pytest
from matplotlib.image import imread

from prodint.experiments.protocol import Budget
from prodint.experiments.zoo_table import EXPERIMENT, TINY_FAMILIES, run


def test_tiny_table_is_exact_with_orders_plot_and_command(tmp_path: Path) -> None:
    (section,) = run(Budget("tiny", seed=3), tmp_path)
    column = {name: i for i, name in enumerate(section.columns)}
    rows = {row[column["family"]]: row for row in section.rows}
    assert set(rows) == set(TINY_FAMILIES) and section.passed
    # Orders: a linear map is first order, a gated product second, attention third
    # (softmax(q·k) v: the input enters through q, k and v).
    assert {f: rows[f][column["order"]] for f in rows} == {
        "dense": 1, "GLU": 2, "multi-head attention": 3}
    for row in section.rows:
        for execution in ("forward", "general", "reference"):
            error = row[column[f"{execution} error"]]
            assert isinstance(error, float) and 0.0 <= error <= 1e-10
        ratio = row[column["time ratio"]]
        assert math.isfinite(ratio) and ratio > 0
        assert row[column["source"]] == "reproduced to float64 rounding"
    assert section.command == "prodint reproduce --only zoo --quick --seed 3 --out reports/zoo"
    assert section.plots == ["zoo-time-ratio.png"]
    image = imread(tmp_path / "zoo-time-ratio.png")
    assert image.ndim == 3 and min(image.shape[:2]) > 100


def test_arguments_are_checked() -> None:
    assert EXPERIMENT.name == "zoo" and EXPERIMENT.run is run
    with pytest.raises(TypeError, match=r"^budget: expected"):
        run("tiny", Path("."))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^out: expected"):
        run(Budget("tiny"), "reports")  # type: ignore[arg-type]
