"""``prodint symmetry``: the table in the terminal, ``results.json`` under ``--out``."""

import json
from pathlib import Path

import pytest

from prodint.cli import main


def test_symmetry_subcommand_writes_json(tmp_path: Path, capsys) -> None:
    assert main(["symmetry", "--steps", "3", "--test-per-class", "1", "--out",
                 str(tmp_path)]) == 0
    assert "rotated acc" in capsys.readouterr().out
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["steps"] == 3 and payload["train_rotations"] == 0
    assert [r["model"] for r in payload["results"]] == ["tfn", "mlp"]
    assert all(0.0 <= r["rotated_accuracy"] <= 1.0 for r in payload["results"])
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_symmetry_refuses_bad_counts(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["symmetry", "--test-per-class", "0"])
    assert exit_info.value.code == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line == ("prodint symmetry: error: argument --test-per-class: expected an int in "
                    "[1, 2147483647], received 0")
