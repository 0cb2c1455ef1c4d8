"""Workers sharing a study: two worker processes on one SQLite study train every candidate
exactly once; a worker whose trial another gave up moves on."""

from __future__ import annotations

import os
import warnings

from optuna.exceptions import ExperimentalWarning
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from prodint.search import search
from prodint.search import worker as worker_module


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


def test_a_trial_given_up_by_another_worker_does_not_stop_this_one(tmp_path, tiny,
                                                                  read_trials, per_key,
                                                                  monkeypatch) -> None:
    """A worker whose heartbeat came late finds its trial failed and queued again by
    another worker (as ``fail_stale_trials`` does): it moves on, and the copy is trained."""
    real, given_up = worker_module.run_candidate, []

    def late(trial, candidate, settings, out):
        if not given_up:
            given_up.append(candidate.key)
            frozen = trial.study._storage.get_trial(trial._trial_id)
            trial.study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                RetryHeartbeatStaleTrialCallback()(trial.study, frozen)
        return real(trial, candidate, settings, out)

    monkeypatch.setattr(worker_module, "run_candidate", late)
    out = tmp_path / "search"
    search(tiny["space"], "seq-digits", 3, out, **tiny["options"])
    trials = read_trials(out / "study.db")
    assert per_key(trials) == {key: 1 for key in tiny["keys"]}
    assert [t["state"] for t in trials].count("FAIL") == 1 and given_up[0] in tiny["keys"]
