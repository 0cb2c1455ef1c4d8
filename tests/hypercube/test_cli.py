"""The hypercube subcommand through its own parser."""

import argparse
import json

from rich.console import Console

from prodint.hypercube import cli

KEYS = {"task", "n", "train_fraction", "steps", "seconds", "test_accuracy", "h_ratio",
        "unitarity_error", "is_group_isotope"}


def _run(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    console = Console(record=True, width=120)
    code = cli.run(parser.parse_args(["hypercube", *argv]), console)
    return code, console.export_text()


def test_cli_writes_json_and_plots(tmp_path) -> None:
    out = tmp_path / "out.json"
    code, text = _run(["--task", "zn", "--n", "5", "--train-fraction", "1", "--seed", "1",
                       "--json", str(out), "--plots", str(tmp_path / "plots")])
    assert code == 0
    record = json.loads(out.read_text())
    assert set(record) >= KEYS
    assert record["task"] == "zn n=5" and record["n"] == 5 and record["is_group_isotope"]
    assert "is_group_isotope" in text and "verdict evidence" in text
    for name in ("training.png", "spectra.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000


def test_cli_reads_a_table_file(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("0,1,2\n1,2,0\n2,0,1\n")
    out = tmp_path / "t.json"
    code, _ = _run(["--table", str(path), "--steps", "50", "--restarts", "0",
                    "--json", str(out)])
    assert code == 0
    record = json.loads(out.read_text())
    assert record["n"] == 3 and record["steps"] == 50 and not record["converged"]


def test_cli_reports_a_bad_table(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("[[0, 1], [1, 7]]")
    code, text = _run(["--table", str(path)])
    assert code == 2 and "expected symbols in 0..1, received 7" in text
