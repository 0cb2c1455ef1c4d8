"""Two worker processes sharing one SQLite study train every candidate exactly once."""

from __future__ import annotations

import os

from prodint.search import search


def test_two_workers_share_one_sqlite_study(tmp_path, tiny, read_trials, per_key) -> None:
    out = tmp_path / "search"
    seen = []
    search(tiny["space"], "seq-digits", 3, out, workers=2, progress=seen.append,
           **tiny["options"] | {"steps": 6})
    trials = read_trials(out / "study.db")
    assert len(trials) == 3 and per_key(trials) == {key: 1 for key in tiny["keys"]}
    workers = {t["attrs"]["worker"] for t in trials}
    assert 1 <= len(workers) <= 2
    assert all(not w.endswith(f":{os.getpid()}") for w in workers)   # run by the workers
    assert seen[-1].finished == 3 and seen[-1].target == 3
