"""``prodint hypercube``: summary JSON and plots under ``--out``, bad tables in one line."""

import json

import pytest

from prodint.cli import main

KEYS = {"task", "n", "train_fraction", "steps", "seconds", "test_accuracy", "h_ratio",
        "unitarity_error", "is_group_isotope"}


def test_cli_writes_json_and_plots(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["hypercube", "--task", "zn", "--n", "5", "--train-fraction", "1", "--seed", "1",
                 "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    record = json.loads((out / "summary.json").read_text())
    assert set(record) >= KEYS
    assert record["task"] == "zn n=5" and record["n"] == 5 and record["is_group_isotope"]
    assert "is_group_isotope" in text and "verdict evidence" in text
    assert record["held_out_perfect"] is None  # fraction 1: nothing held out
    assert [a["abandoned"] for a in record["attempts"]] == [False] * len(record["attempts"])
    train = record["train_perfect"]
    assert f"no held-out cell; 100% train accuracy at step {train['steps']} (" in text
    for name in ("training.png", "spectra.png"):
        assert (out / name).stat().st_size > 1000
    assert sorted(p.name for p in out.iterdir()) == ["spectra.png", "summary.json",
                                                     "training.png"]


def test_cli_prints_the_step_and_time_of_100_percent_held_out(tmp_path, capsys) -> None:
    code = main(["hypercube", "--task", "zn", "--n", "7", "--train-fraction", "0.7",
                 "--out", str(tmp_path)])
    assert code == 0
    text = capsys.readouterr().out
    first = json.loads((tmp_path / "summary.json").read_text())["held_out_perfect"]
    assert first["steps"] > 0 and first["seconds"] > 0
    assert (f"100% held-out accuracy at step {first['steps']} ({first['seconds']:.3g} s); "
            f"100% train accuracy at step ") in text


def test_cli_reads_a_table_file(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("0,1,2\n1,2,0\n2,0,1\n")
    code = main(["hypercube", "--table", str(path), "--steps", "50", "--restarts", "0",
                 "--out", str(tmp_path / "run")])
    assert code == 0
    record = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert record["n"] == 3 and record["steps"] == 50 and not record["converged"]


def test_cli_reports_a_bad_table_in_one_line(tmp_path, capsys) -> None:
    path = tmp_path / "bad.json"
    path.write_text("[[0, 1], [1, 7]]")
    assert main(["hypercube", "--table", str(path)]) == 2
    captured = capsys.readouterr()
    line, = captured.err.strip().splitlines()
    assert line.startswith("prodint hypercube: error: ")
    assert "expected symbols in 0..1, received 7" in line
    with pytest.raises(SystemExit) as exit_info:  # refused while parsing, before any work
        main(["hypercube", "--table", str(tmp_path / "missing.csv")])
    assert exit_info.value.code == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("prodint hypercube: error: argument --table: expected an existing "
                           "file") and "missing.csv" in line


def test_cli_reports_a_bad_modulus(capsys) -> None:
    assert main(["hypercube", "--task", "zp-div", "--p", "12"]) == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line == "prodint hypercube: error: p: task 'zp-div' needs a prime, received 12"
