"""The ``prodint`` command: one registration protocol, plain help, one-line bad input."""

import re
import subprocess
import sys

import pytest

from prodint.cli import COMMANDS, build_parser, main, symmetry

NAMES = ["demo", "reproduce", "catalogue", "zoo", "train", "search", "shakespeare", "symmetry",
         "hypercube", "sparsity", "bench"]
# reST / Sphinx markup that must not reach the terminal.
MARKUP = re.compile(r"``|:(class|func|mod|meth|attr|data|obj):|\*\*")


def _subcommands() -> dict[str, object]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return dict(action.choices)


def test_every_command_is_registered_by_the_protocol() -> None:
    assert list(_subcommands()) == NAMES
    assert len(COMMANDS) == len(NAMES)
    for command in COMMANDS:
        assert callable(command.add_parser) and callable(command.run)
    parser = build_parser()
    for name, command in zip(NAMES, COMMANDS, strict=True):
        required = {"bench": ["algebra"], "sparsity": ["conv2d", "--out", "p.png"]}
        args = parser.parse_args([name, *required.get(name, [])])
        assert args.command == name and args.run is command.run


@pytest.mark.parametrize("argv", [[], *([n] for n in NAMES)], ids=["prodint", *NAMES])
def test_help_is_plain_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: prodint")
    assert not MARKUP.search(text), MARKUP.search(text)
    if not argv:
        assert all(name in text for name in NAMES)


@pytest.mark.parametrize("argv, expected", [
    ([], "the following arguments are required: COMMAND"),
    (["nope"], "invalid choice: 'nope'"),
    (["symmetry", "--steps", "0"], "--steps: expected an int in [1, 10000000], received 0"),
    (["symmetry", "--steps", "ten"], "--steps: expected an int, received 'ten'"),
    (["symmetry", "--steps", "3.0"], "--steps: expected an int, received '3.0'"),
    (["symmetry", "--train-rotations", "-1"], "expected an int in [0, 2147483647], received -1"),
    (["hypercube", "--train-fraction", "1.5"],
     "expected a finite number > 0 and <= 1, received 1.5"),
    (["hypercube", "--train-fraction", "nan"], "expected a finite number > 0 and <= 1, "
                                               "received nan"),
    (["hypercube", "--seed", "1" * 20], "--seed: expected an int in [0, 9223372036854775807], "
                                        "received 11111111111111111111"),
    (["hypercube", "--task", "s3", "--table", "pyproject.toml"], "not allowed with argument"),
    (["hypercube", "--table", "no-such-file.csv"], "--table: expected an existing file"),
    (["shakespeare", "--contexts"], "expected at least one argument"),
    (["bench", "nope"], "invalid choice: 'nope'"),
    (["bench", "algebra", "--device", "gpu"], "--device: expected a device name"),
], ids=["no command", "unknown command", "zero steps", "not an int", "integral float",
        "negative", "fraction", "nan fraction", "huge seed", "two sources", "missing table",
        "empty list", "unknown suite", "unknown device"])
def test_bad_options_are_one_line_and_status_2(argv: list[str], expected: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prodint") and ": error: " in lines[0]
    assert expected in lines[0]
    assert captured.out == ""


def test_out_must_be_a_folder(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "a_file"
    file.write_text("x")
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--out", str(file)])
    assert exit_info.value.code == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line == (f"prodint demo: error: argument --out: expected a folder, received the "
                    f"file {str(file)!r}")


def test_python_m_prodint_is_the_same_command() -> None:
    done = subprocess.run([sys.executable, "-m", "prodint", "--help"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: prodint")
    assert all(name in done.stdout for name in NAMES)
    bad = subprocess.run([sys.executable, "-m", "prodint", "hypercube", "--n", "0"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == ("prodint hypercube: error: argument --n: expected an "
                                  "int in [1, 2147483647], received 0")


def test_outputs_are_checked_before_the_run(tmp_path, capsys, monkeypatch) -> None:
    started: list[str] = []
    monkeypatch.setattr(symmetry, "run", lambda args, console: started.append("run") or 0)
    (tmp_path / "results.json").mkdir()
    assert main(["symmetry", "--out", str(tmp_path)]) == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line == (f"prodint symmetry: error: --out: expected a folder where results.json can "
                    f"be written, received {str(tmp_path)!r}, whose results.json is not a "
                    f"regular file")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for argv, expected in ((["symmetry", "--out", str(a_file / "run")],
                            "argument --out: expected a path whose folder can be created"),
                           (["bench", "algebra", "--json", str(tmp_path)],
                            "argument --json: expected a file, received the folder")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        line, = capsys.readouterr().err.strip().splitlines()
        assert expected in line
    assert started == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "results.json"]


def test_library_errors_during_a_run_are_one_line_and_bugs_keep_their_traceback(
        capsys, monkeypatch) -> None:
    def refused(args, console) -> int:
        raise ValueError("steps: expected fewer,\n received 3")

    monkeypatch.setattr(symmetry, "run", refused)
    assert main(["symmetry"]) == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line == "prodint symmetry: error: steps: expected fewer, received 3"

    def bug(args, console) -> int:
        raise KeyError("a bug")

    monkeypatch.setattr(symmetry, "run", bug)
    with pytest.raises(KeyError):
        main(["symmetry"])
    with pytest.raises(TypeError, match=r"^argv: expected a list of str"):
        main("symmetry")  # type: ignore[arg-type]
