"""The command line under hostile options, a full disk and concurrent writers.

Every option of every subcommand (read from the parser itself, so a new option is fuzzed by
being added) gets hostile values: zero, negative, huge and overflowing numbers, ``nan``,
``inf``, words, an empty value, an existing folder and a path under a regular file. Each
call runs in-process under an alarm, in an empty folder, with the subcommands' ``run``
replaced by a stop: a value the parser or the subcommand's ``check`` refuses must exit with
status 2 and one line on stderr that names the option, with no traceback and no file
written; a value both accept (a valid option, such as a folder name for ``--out``) reaches
the stop, so no valid but long run is ever started. The full-disk tests make ``fsync``
fail with ``ENOSPC`` during a real (short) run; the concurrency test has threads and
processes write one file at once.
"""

from __future__ import annotations

import argparse
import errno
import multiprocessing
import os
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodint import storage
from prodint.cli import COMMANDS, build_parser, main
from prodint.data.shakespeare import CharCorpus
from prodint.report import write_atomic

PROFILE = settings(max_examples=6, derandomize=True, database=None, deadline=None,
                   suppress_health_check=list(HealthCheck))
#: The values every option is given (``DIR`` and ``UNDER_FILE`` become real paths).
HOSTILE = ["0", "-1", str(10**20), str(2**31 - 1), "3.0", "nan", "inf", "abc", "", "DIR",
           "UNDER_FILE"]
#: The arguments a subcommand needs besides the fuzzed option.
REQUIRED = {"bench": ["algebra"], "sparsity": ["conv2d", "--out=plot.png"]}
#: The options a subcommand needs besides a fuzzed positional argument.
REQUIRED_OPTIONS = {"sparsity": ["--out=plot.png"]}
#: A corpus of about 40k characters stands in for the works (loading them takes seconds).
SMALL_TEXT = "Now is the winter of our discontent made glorious summer by this sun. " * 600


class Started(BaseException):
    """Raised in place of a subcommand's run: everything before it accepted the options."""


def _options() -> list[tuple[str, argparse.Action]]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [(name, action) for name, sub in subparsers.choices.items() for action in sub._actions
            if not isinstance(action, argparse._HelpAction)]


OPTIONS = _options()


def _option_id(option: tuple[str, argparse.Action]) -> str:
    command, action = option
    return f"{command} {action.option_strings[0] if action.option_strings else action.dest}"


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working folder holding a folder and a file, the run of every subcommand
    replaced by :class:`Started`, a small corpus, and a 30 s alarm."""
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_file").write_text("x")
    monkeypatch.chdir(tmp_path)

    def stop(args: argparse.Namespace, console: object) -> int:
        raise Started

    for command in COMMANDS:
        monkeypatch.setattr(command, "run", stop)
    small = CharCorpus.from_text(SMALL_TEXT)
    monkeypatch.setattr(CharCorpus, "shakespeare", classmethod(lambda cls, *a, **k: small))

    def alarm(signum: int, frame: object) -> None:
        raise TimeoutError("the command ran past the alarm")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(30)
    try:
        yield tmp_path
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _argv(command: str, action: argparse.Action, value: str) -> list[str]:
    if not action.option_strings:
        return [command, value, *REQUIRED_OPTIONS.get(command, [])]
    return [command, *REQUIRED.get(command, []), f"{action.option_strings[0]}={value}"]


def _names(line: str, action: argparse.Action) -> bool:
    shown = [action.metavar] if not action.option_strings and isinstance(action.metavar, str) \
        else []  # a positional argument is named by its metavar (LAYER-SPEC)
    names = [*action.option_strings, action.dest, action.dest.replace("_", "-"), *shown]
    return any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", line) for n in names)


def _check(sandbox: Path, capsys: pytest.CaptureFixture[str], command: str,
           action: argparse.Action, value: str) -> None:
    value = {"DIR": str(sandbox / "a_dir"),
             "UNDER_FILE": str(sandbox / "a_file" / "out.json")}.get(value, value)
    before = _files(sandbox)
    try:
        code = main(_argv(command, action, value))
    except SystemExit as exit_info:
        code = exit_info.code
    except Started:
        code = None
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert _files(sandbox) == before, "a refused (or not yet started) command wrote files"
    if code is None:  # accepted by the parser and by check: a valid value
        assert captured.err == ""
        return
    assert code == 2, (code, captured.err)
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"prodint {command}: error: "), lines[0]
    assert _names(lines[0], action), lines[0]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("option", OPTIONS, ids=_option_id)
def test_hostile_values_are_refused_in_one_line(option: tuple[str, argparse.Action],
                                                value: str, sandbox: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _check(sandbox, capsys, *option, value)


@pytest.mark.parametrize("option", OPTIONS, ids=_option_id)
def test_random_values_are_refused_in_one_line(option: tuple[str, argparse.Action],
                                               sandbox: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    numbers = st.one_of(st.integers(-(10**25), 10**25), st.floats()).map(str)

    @PROFILE
    @given(value=st.one_of(numbers, st.text(max_size=8)))
    def check(value: str) -> None:
        if "\x00" in value:  # not a possible command-line argument
            return
        _check(sandbox, capsys, *option, value)

    check()


def test_the_fuzz_walks_every_subcommand_and_option() -> None:
    commands = {command for command, _ in OPTIONS}
    assert commands == {"demo", "reproduce", "train", "search", "shakespeare", "symmetry",
                        "hypercube", "sparsity", "bench"}
    flags = {action.option_strings[0] for _, action in OPTIONS if action.option_strings}
    assert {"--out", "--seed", "--train-fraction", "--contexts", "--json", "--device",
            "--table", "--heads"} <= flags
    assert {"--steps", "--mixer", "--task", "--resume", "--config"} <= flags   # train's
    assert {"--space", "--budget", "--storage", "--workers", "--pruner"} <= flags  # search's
    assert len(OPTIONS) == 77


def _full_disk(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_write_atomic_on_a_full_disk_keeps_the_old_file(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "results.json"
    path.write_text("old")
    monkeypatch.setattr(storage.os, "fsync", _full_disk)
    with pytest.raises(OSError) as error:
        write_atomic(path, "new" * 1000)
    assert error.value.errno == errno.ENOSPC
    assert path.read_text() == "old"
    assert _files(tmp_path) == {"results.json"}


def test_a_full_disk_during_a_run_is_one_line_and_keeps_every_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    for name in ("summary.json", "training.png", "spectra.png"):
        (out / name).write_text(f"good {name}")
    monkeypatch.setattr(os, "fsync", _full_disk)
    code = main(["hypercube", "--task", "zn", "--n", "3", "--steps", "5", "--restarts", "0",
                 "--out", str(out)])
    assert code == 2
    line, = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("prodint hypercube: error: ") and "No space left on device" in line
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        name: f"good {name}" for name in ("summary.json", "training.png", "spectra.png")}


def _write_many(path: str, worker: int, count: int) -> None:
    for i in range(count):
        write_atomic(Path(path), f"{worker}:{i}:" + "x" * 4096 + "\n")


def test_concurrent_writers_never_fail_and_leave_one_complete_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.txt"
    errors: list[BaseException] = []
    umask = os.umask(0o022)
    os.umask(umask)

    def thread(worker: int) -> None:
        try:
            _write_many(str(path), worker, 40)
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=thread, args=(w,)) for w in range(12)]
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_write_many, args=(str(path), 100 + w, 40))
                 for w in range(4)]
    for t in [*threads, *processes]:
        t.start()
    for t in threads:
        t.join()
    for p in processes:
        p.join(120)
    assert errors == []
    assert [p.exitcode for p in processes] == [0] * len(processes)
    text = path.read_text()
    worker, index, rest = text.split(":", 2)
    assert int(worker) in [*range(12), *range(100, 104)] and 0 <= int(index) < 40
    assert rest == "x" * 4096 + "\n"
    assert _files(tmp_path) == {"shared.txt"}
    after = os.umask(umask)
    assert after == umask  # the writers left the process's umask as it was
