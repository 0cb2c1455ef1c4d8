"""A search killed mid-run resumes: rerunning the same command continues the same study, the
trial the kill interrupted is trained again and no finished trial is repeated."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time


def _command(space: str, out: object, steps: int) -> list[str]:
    return [sys.executable, "-m", "prodint", "search", "--space", space, "--task",
            "seq-digits", "--budget", "3", "--out", str(out), "--width", "8", "--steps",
            str(steps), "--batch", "16", "--pruner", "none", "--heartbeat", "1"]


def test_a_killed_search_resumes_without_repeating_finished_trials(tmp_path, tiny,
                                                                  read_trials,
                                                                  per_key) -> None:
    out = tmp_path / "search"
    process = subprocess.Popen(_command(tiny["space"], out, 15), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                trials = read_trials(out / "study.db")
            except sqlite3.OperationalError:    # no file or no tables yet
                trials = []
            # one finished, the next one training (its heartbeat beating)
            if any(t["state"] == "COMPLETE" for t in trials) and \
                    any(t["state"] == "RUNNING" and t["heartbeat"] for t in trials):
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    before = read_trials(out / "study.db")
    done = {t["number"]: t for t in before if t["state"] == "COMPLETE"}
    assert done and len(done) < 3
    assert any(t["state"] == "RUNNING" for t in before)   # the trial the kill interrupted
    # the same command again continues the same study
    rerun = subprocess.run(_command(tiny["space"], out, 15), capture_output=True, text=True,
                           timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = read_trials(out / "study.db")
    assert per_key(after) == {key: 1 for key in tiny["keys"]}
    for number, trial in done.items():       # finished trials kept as they were, not rerun
        assert after[number]["state"] == "COMPLETE"
        assert after[number]["value"] == trial["value"]
    interrupted = [t for t in after if t["state"] == "FAIL"]
    assert len(interrupted) == len([t for t in before if t["state"] == "RUNNING"])
    assert not any(t["state"] in ("RUNNING", "WAITING") for t in after)
