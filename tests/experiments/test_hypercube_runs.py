"""The HyperCube experiment: every row, plot and command at the tiny size; at the quick size
the verdict says yes for the groups and no for the Latin square that is no group's."""

from pathlib import Path

import pytest
import torch
from matplotlib.image import imread

from prodint.experiments.hypercube_runs import run, run_table, tables_for
from prodint.experiments.protocol import Budget
from prodint.report import Section


def _associative(table: torch.Tensor) -> bool:
    n = table.shape[0]
    return all(int(table[table[a, b], c]) == int(table[a, table[b, c]])
               for a in range(n) for b in range(n) for c in range(n))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Section, Path]:
    out = tmp_path_factory.mktemp("hypercube")
    (section,) = run(Budget("tiny"), out)
    return section, out


def _expected(table: torch.Tensor) -> bool:
    """Whether ``table`` is a group's, by the definition: a Latin square that associates."""
    n = table.shape[0]
    latin = all(sorted(map(int, line)) == list(range(n)) for line in (*table, *table.T))
    return latin and _associative(table)


def test_tiny_budget_produces_every_row_and_plot(tiny: tuple[Section, Path]) -> None:
    section, out = tiny
    assert section.command == "prodint reproduce --only hypercube --quick --seed 0 " \
                              "--out reports/hypercube"
    assert [r[0] for r in section.rows] == ["S_4", "Z_13 (x + y mod 13)",
                                            "latin5 (not a group)"]
    assert [r[1] for r in section.rows] == [24, 13, 5]
    for row in section.rows:
        held_out, steps, seconds, h_ratio = row[2], row[3], row[4], row[5]
        assert 0.0 <= held_out <= 1.0 and h_ratio > 0
        assert (steps, seconds) == ("never", "never") or (steps >= 1 and seconds >= 0)
    assert len(section.plots) == 4
    for name in section.plots:
        image = imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_verdicts_follow_the_group_structure(tiny: tuple[Section, Path]) -> None:
    section = tiny[0]
    quick = tables_for(Budget("quick"))
    # S_4 and latin5 are the same tables at the tiny and the quick size; Z_31 runs here.
    for (name, table), row in zip(quick, section.rows, strict=True):
        expected = _expected(table)
        assert expected is (not name.startswith("latin5"))
        if not name.startswith("Z_"):
            assert row[0] == name and row[6] is expected and row[7] is expected
    name, table = quick[1]
    assert _expected(table)
    r = run_table(name, table, seed=0)
    assert r.group and r.diagnostics.is_group_isotope
    # A unitary representation: H/3n² at its minimum 1, every cell predicted.
    assert abs(r.diagnostics.h_ratio - 1) < 1e-2 and r.held_out[-1] == 1.0
    assert r.solved is not None and r.solved[0] <= r.steps[-1]
    assert r.steps == list(range(1, len(r.steps) + 1))
    assert r.seconds == sorted(r.seconds)


def test_arguments_are_checked_before_training() -> None:
    with pytest.raises(ValueError, match=r"^train_fraction: expected a finite number > 0 "
                                         r"and < 1"):
        run_table("Z_3", torch.tensor([[0, 1, 2], [1, 2, 0], [2, 0, 1]]), train_fraction=1.0)
    with pytest.raises(TypeError, match=r"^name: expected a non-empty str, received"):
        run_table("", torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match=r"^budget: expected"):
        tables_for("quick")  # type: ignore[arg-type]
