"""Shared fixtures of the search tests: a tiny space (``tiny``), the trials of a SQLite study
read back without the search code (``read_trials``, rows through ``sqlite3``; ``per_key``
counts the finished trials of each candidate), and a PostgreSQL server started for the
session (``postgres``).

The server is Debian's ``postgresql`` (``initdb`` and ``pg_ctl`` under
``/usr/lib/postgresql/*/bin``), run as the ``postgres`` user on a Unix socket in a private
folder. Where it cannot be started the PostgreSQL tests are skipped, unless
``PRODINT_REQUIRE_POSTGRES=1`` (``make test`` sets it), where they fail.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Three causal order-1 candidates (a convolution, a token mixing, a linear scan).
SPACE = "order=1,mixing=window+scan+tokens,functions=id,causal"
KEYS = {"window:X", "scan:X", "tokens:X"}
TINY = dict(width=8, steps=4, batch=16, pruner="none", heartbeat=1)


def sqlite_trials(db: Path) -> list[dict[str, object]]:
    """Every trial of the SQLite study file ``db``: number, state, value, user attrs and
    whether it has a heartbeat."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
        rows = connection.execute(
            "SELECT t.trial_id, t.number, t.state, v.value FROM trials t "
            "LEFT JOIN trial_values v ON v.trial_id = t.trial_id ORDER BY t.number").fetchall()
        attrs = connection.execute(
            "SELECT trial_id, key, value_json FROM trial_user_attributes").fetchall()
        beating = {row[0] for row in connection.execute(
            "SELECT trial_id FROM trial_heartbeats").fetchall()}
    by_trial: dict[int, dict[str, object]] = {}
    for trial_id, key, value in attrs:
        by_trial.setdefault(trial_id, {})[key] = json.loads(value)
    return [{"number": number, "state": state, "value": value, "heartbeat": trial_id in beating,
             "attrs": by_trial.get(trial_id, {})} for trial_id, number, state, value in rows]


def finished_per_key(trials: list[dict[str, object]]) -> dict[str, int]:
    """How many finished (complete or pruned) trials each candidate key has."""
    counts: dict[str, int] = {}
    for t in trials:
        if t["state"] in ("COMPLETE", "PRUNED"):
            key = t["attrs"]["key"]
            counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.fixture
def tiny() -> dict[str, object]:
    """The tiny space, its candidate keys and the options of a search that trains it fast."""
    return {"space": SPACE, "keys": KEYS, "options": dict(TINY)}


@pytest.fixture
def read_trials() -> object:
    """:func:`sqlite_trials`."""
    return sqlite_trials


@pytest.fixture
def per_key() -> object:
    """:func:`finished_per_key`."""
    return finished_per_key


def _bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _unavailable(reason: str) -> None:
    if os.environ.get("PRODINT_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL server could not be started: {reason}")
    pytest.skip(f"PostgreSQL server could not be started: {reason}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The URL of a fresh database on a PostgreSQL server that lives for the session."""
    bindir = _bin()
    if bindir is None:
        _unavailable("initdb not found (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="prodint-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data, port = folder / "data", 5432

    def call(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*as_postgres, *command], capture_output=True, text=True,
                              timeout=120)

    try:
        if as_postgres:
            shutil.chown(folder, "postgres")
        for command in ([str(bindir / "initdb"), "-D", str(data), "--auth=trust",
                         "-U", "postgres"],
                        [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"),
                         "-w", "-o", f"-k {folder} -c listen_addresses='' -p {port}", "start"],
                        [str(bindir / "createdb"), "-h", str(folder), "-p", str(port),
                         "-U", "postgres", "search"]):
            done = call(*command)
            if done.returncode:
                _unavailable(f"{Path(command[0]).name}: {done.stderr.strip()[-300:]}")
        yield f"postgresql+psycopg://postgres@/search?host={folder}&port={port}"
    finally:
        call(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
