"""``prodint train``: a short run writes its files; bad configurations are one line, exit 2."""

from __future__ import annotations

import json

import pytest

from prodint.cli import main


def test_a_short_run_writes_metrics_checkpoint_and_config(tmp_path, capsys) -> None:
    config = tmp_path / "run.toml"
    config.write_text('task = "digits"\nmixer = "glu"\nwidth = 8\ndepth = 1\nsteps = 40\n')
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--steps", "6", "--eval-every", "3",
                 "--log-every", "3", "--out", str(out)]) == 0
    assert "trained glu on digits: eval_accuracy" in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 5]
    assert all("eval_accuracy" in r and 0 <= r["eval_accuracy"] <= 1 for r in records)
    assert json.loads((out / "config.json").read_text())["steps"] == 6
    assert (out / "checkpoint.safetensors").read_bytes()[8:9] == b"{"
    assert main(["train", "--config", str(config), "--steps", "9", "--eval-every", "3",
                 "--log-every", "3", "--resume", "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 5, 8]


@pytest.mark.parametrize("argv,message", [
    (["--steps", "abc"], "--steps: expected an int, received 'abc'"),
    (["--mixer", "nope"], "--mixer: expected one of"),
    (["--task", "imagenet"], "--task: expected one of"),
    (["--lr", "-1"], "--lr: expected"),
    (["--sparse", "3"], "--sparse: expected a bool"),
    (["--resume"], "resume: expected a checkpoint in --out"),
])
def test_bad_options_are_one_line(tmp_path, capsys, argv: list[str], message: str) -> None:
    assert main(["train", *argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_bad_config_files_are_one_line(tmp_path, capsys) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("stepz = 3\n")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "x")]) == 2
    assert "config: expected keys among" in capsys.readouterr().err
    config.write_text('width = "wide"\n')
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "x")]) == 2
    assert "width: expected an int" in capsys.readouterr().err
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(SystemExit) as exited:    # refused while the options are parsed
        main(["train", "--out", str(a_file)])
    assert exited.value.code == 2 and "--out" in capsys.readouterr().err


def test_a_missing_data_set_names_the_option(tmp_path, capsys) -> None:
    assert main(["train", "--task", "fashion", "--data-root", str(tmp_path),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("prodint train: error: --data-root: expected train-images")
    assert err.count("\n") == 1 and not (tmp_path / "x").exists()
