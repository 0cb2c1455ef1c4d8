"""The ``symmetry`` subcommand: parser, table, JSON."""

import argparse
import json
from pathlib import Path

from rich.console import Console

from prodint.symmetry import cli


def test_symmetry_subcommand_writes_json(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "polycubes.json"
    args = parser.parse_args(["symmetry", "--steps", "3", "--test-per-class", "1",
                              "--json", str(out)])
    console = Console(record=True, width=120)
    assert cli.run(args, console) == 0
    assert "rotated acc" in console.export_text()
    payload = json.loads(out.read_text())
    assert [r["model"] for r in payload["results"]] == ["tfn", "mlp"]
    assert all(0.0 <= r["rotated_accuracy"] <= 1.0 for r in payload["results"])
    bad = parser.parse_args(["symmetry", "--steps", "0"])
    assert cli.run(bad, Console(record=True)) == 2
