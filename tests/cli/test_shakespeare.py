"""``prodint shakespeare``: the experiment from the command line; bad sizes in one line."""

import json

from prodint.cli import main


def test_cli_runs_the_experiment(tmp_path, capsys) -> None:
    code = main(["shakespeare", "--steps", "2", "--batch", "2", "--length", "32", "--width",
                 "16", "--depth", "1", "--heads", "2", "--contexts", "8", "--out",
                 str(tmp_path)])
    assert code == 0
    assert "report:" in capsys.readouterr().out
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["config"]["train"]["steps"] == 2 and saved["vocab"] > 60


def test_cli_refuses_sizes_the_models_cannot_take(tmp_path, capsys) -> None:
    assert main(["shakespeare", "--width", "16", "--heads", "3", "--out", str(tmp_path)]) == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("prodint shakespeare: error: heads: expected a divisor of width=16")
    assert main(["shakespeare", "--length", "100000000", "--out", str(tmp_path)]) == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("prodint shakespeare: error: length: expected a size for which "
                           "training activations fits in ")
    assert main(["shakespeare", "--contexts", "8", "99999999", "--out", str(tmp_path)]) == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("prodint shakespeare: error: --contexts: expected a size for which "
                           "prefill of the longest prompt fits in ")
    assert list(tmp_path.iterdir()) == []
