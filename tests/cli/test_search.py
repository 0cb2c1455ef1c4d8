"""``prodint search``: a tiny search through the command; bad input is one line on stderr,
exit status 2, and leaves the study as it was."""

from __future__ import annotations

import json
import sqlite3

import pytest

from prodint.cli import main

SPACE = "order=1,mixing=window+scan+tokens,functions=id,causal"
TINY = ["--width", "8", "--batch", "16", "--pruner", "none"]


def _trials(db: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute("SELECT number, state FROM trials ORDER BY number").fetchall()


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> object:
    """The folder of a finished tiny search (three candidates)."""
    out = tmp_path_factory.mktemp("search") / "run"
    assert main(["search", "--space", SPACE, "--task", "seq-digits", "--budget", "3",
                 "--steps", "3", "--out", str(out), *TINY]) == 0
    return out


def test_a_tiny_search_writes_its_report(done, capsys) -> None:
    results = json.loads((done / "results.json").read_text())
    assert len(results["trials"]) == 3 and results["candidates"] == 3
    assert "## Leaderboard" in (done / "report.md").read_text()
    assert [state for _, state in _trials(done / "study.db")] == ["COMPLETE"] * 3


@pytest.mark.parametrize("argv,message", [
    (["--space", "order=2,algebras=sedenion"], "--space: unknown algebras 'sedenion'"),
    (["--space", "order=2,colour=red"], "--space: unknown key 'colour'"),
    (["--space", "order=1,mixing=window,functions=id,causal"],
     "--space: expected 'order=1,algebras=hadamard,mixing=window+tokens+scan"),
    (["--task", "imagenet"], "argument --task: invalid choice: 'imagenet'"),
    (["--budget", "0"], "argument --budget: expected an int in [1"),
    (["--storage", "postgresql+psycopg://nobody@127.0.0.1:1/none"],
     "--storage: expected a reachable database URL"),
    (["--storage", "not a url"], "--storage: expected a reachable database URL"),
    (["--steps", "4"], "--steps: expected 3, the steps of the study 'search'"),
])
def test_bad_input_is_one_line_and_leaves_the_study(done, capsys, argv, message) -> None:
    options = {"--space": SPACE, "--task": "seq-digits", "--budget": "3", "--steps": "3"}
    options |= dict(zip(argv[::2], argv[1::2], strict=True))
    before = (done / "study.db").read_bytes()
    argv = ["search", *(x for pair in options.items() for x in pair), "--out", str(done),
            *TINY]
    try:
        status = main(argv)
    except SystemExit as exited:     # refused while the options are parsed
        status = exited.code
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err
    assert (done / "study.db").read_bytes() == before


def test_a_refused_search_creates_nothing(tmp_path, capsys) -> None:
    out = tmp_path / "new"
    assert main(["search", "--space", "order=9,mixing=teleport", "--task", "copy",
                 "--budget", "2", "--out", str(out)]) == 2
    assert "--space: unknown mixing 'teleport'" in capsys.readouterr().err
    assert not out.exists()
