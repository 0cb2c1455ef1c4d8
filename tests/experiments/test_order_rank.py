"""The order × rank experiment at the tiny budget: every section, row and plot, the grid of
orders and ranks (the order derived from each model's expression), parameter counts that
grow with the rank and the order, and the notes that compare the direction with the source."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from matplotlib.image import imread

from prodint.experiments.order_rank import COLUMNS, EXPERIMENT, EXPERIMENT_NAME, run
from prodint.experiments.protocol import Budget, command


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, Path]:
    out = tmp_path_factory.mktemp("order-rank")
    return run(Budget("tiny", seed=3), out), out


def test_one_section_per_task_with_its_plot_and_command(tiny: tuple[list, Path]) -> None:
    sections, out = tiny
    assert [s.title for s in sections] == ["Order and projection rank on seq-digits",
                                           "Order and projection rank on copy"]
    for section, task in zip(sections, ("seq-digits", "copy"), strict=True):
        assert section.columns == COLUMNS
        assert section.passed
        assert section.command == command("order-rank", Budget("tiny", seed=3))
        assert section.command == "prodint reproduce --only order-rank --quick --seed 3 " \
                                  "--out reports/order-rank"
        assert section.plots == [f"order-rank-{task}.png"]
        image = imread(out / section.plots[0])
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
        assert "rank at most R" in section.intro
        # the runs of the grid were written where the run says
        for order in (1, 2, 3):
            for rank in (1, 2, 4):
                run_folder = out / "runs" / EXPERIMENT_NAME / f"{task}-order{order}-rank{rank}"
                assert (run_folder / "metrics.jsonl").is_file()


def test_rows_are_the_three_by_three_grid_with_numbers_in_range(tiny: tuple[list, Path]
                                                                 ) -> None:
    sections, _ = tiny
    for section, task in zip(sections, ("seq-digits", "copy"), strict=True):
        assert [(r[0], r[1], r[2]) for r in section.rows] == \
            [(task, k, rank) for k in (1, 2, 3) for rank in (1, 2, 4)]
        for row in section.rows:
            _, _, _, parameters, accuracy, source, seconds = row
            assert isinstance(parameters, int) and parameters > 0
            assert isinstance(accuracy, float) and math.isfinite(accuracy)
            assert 0.0 <= accuracy <= 1.0
            assert source == "rises with order and rank"
            assert 0.0 <= seconds < 15.0


def test_parameters_grow_with_rank_and_with_order(tiny: tuple[list, Path]) -> None:
    sections, _ = tiny
    for section in sections:
        count = {(r[1], r[2]): r[3] for r in section.rows}
        for k in (1, 2, 3):
            assert count[k, 1] < count[k, 2] < count[k, 4]
        for rank in (1, 2, 4):
            assert count[1, rank] < count[2, rank] < count[3, rank]
        # one factor more adds 2·width·R + L·R² + width parameters per block (width 8, one
        # block at the tiny budget; L is the sequence length: 64 pixels, 31 copy tokens)
        length = 64 if section.rows[0][0] == "seq-digits" else 31
        for rank in (1, 2, 4):
            assert count[2, rank] - count[1, rank] == 2 * 8 * rank + length * rank ** 2 + 8


def test_notes_compare_each_direction_with_the_source(tiny: tuple[list, Path]) -> None:
    sections, _ = tiny
    for section in sections:
        order_note, rank_note = section.notes[:2]
        assert order_note.startswith("mean accuracy by order (1: ")
        assert rank_note.startswith("mean accuracy by rank (1: ")
        for note, keys in ((order_note, (1, 2, 3)), (rank_note, (1, 2, 4))):
            means = [float(part.split(": ")[1]) for part in
                     note[note.index("(") + 1:note.index(")")].split(", ")]
            assert [int(part.split(":")[0]) for part in
                    note[note.index("(") + 1:note.index(")")].split(", ")] == list(keys)
            rising = means[0] < means[1] < means[2]
            assert note.endswith("rises, as the source reports") == rising
        accuracy = {(r[1], r[2]): r[4] for r in section.rows}
        by_order = sum(accuracy[1, rank] < accuracy[2, rank] < accuracy[3, rank]
                       for rank in (1, 2, 4))
        by_rank = sum(accuracy[k, 1] < accuracy[k, 2] < accuracy[k, 4] for k in (1, 2, 3))
        assert section.notes[2] == f"accuracy rises with the order at {by_order} of 3 ranks " \
                                   f"and with the rank at {by_rank} of 3 orders"
        assert len(section.notes) == 3  # no run diverged


def test_experiment_entry() -> None:
    assert EXPERIMENT.name == "order-rank" and EXPERIMENT.run is run
    assert 0 < EXPERIMENT.quick_minutes <= 1.5 and EXPERIMENT.full_minutes <= 60


def test_arguments_are_checked_before_any_training(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"^budget: expected a Budget, received"):
        run("tiny", tmp_path)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^out: expected"):
        run(Budget("tiny"), 5)  # type: ignore[arg-type]
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"^out: expected a folder, received the file"):
        run(Budget("tiny"), tmp_path / "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing was written
