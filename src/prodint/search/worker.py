"""A search's worker: the trial loop every worker process runs on the shared study.

A worker takes a waiting trial atomically (the state change ``WAITING -> RUNNING`` is one
database update that only one process wins), beats its heartbeat while training, and before
each trial marks failed the trials whose heartbeat stopped (a killed process), which queues
them again; a worker with nothing to take waits while trials of others still run, so a
crashed trial is finished by whoever is left. In a *sampled* study a worker with nothing
waiting asks the sampler (:class:`FreshKeySampler`: a seeded TPE over the candidate keys,
never a key the study already holds) for a new candidate until ``budget`` distinct
candidates have been tried.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from optuna.exceptions import ExperimentalWarning
from optuna.trial import TrialState

from prodint.checks import check_callable, check_instance, describe
from prodint.search.objective import run_candidate
from prodint.search.study import SearchSettings, open_study
from prodint.train.tasks import TASKS
from prodint.train.trainer import NonFiniteLossError

__all__ = ["PRUNERS", "FreshKeySampler", "SearchPlan", "SearchProgress", "candidates_of",
           "open_plan", "parse_text", "run_worker", "study_counts", "trial_key", "worker_main"]

PRUNERS = ("median", "halving", "none")


@dataclass(frozen=True)
class SearchPlan:
    """A checked search (built by :func:`~prodint.search.run.plan_search`).

    Attributes:
        settings: what the study searches and how each candidate trains.
        storage, study: the database URL and the study's name in it.
        budget, workers: distinct candidates to train; worker processes on this machine.
        out: the folder of the report and of the trials' runs.
        size: the number of candidates of the space.
        heartbeat: seconds between a running trial's heartbeats.
        pruner: ``"median"``, ``"halving"`` or ``"none"``.
        exists: whether the storage held the study when the search was planned.
    """

    settings: SearchSettings
    storage: str
    study: str
    budget: int
    workers: int
    out: Path
    size: int
    heartbeat: int
    pruner: str
    exists: bool


@dataclass(frozen=True)
class SearchProgress:
    """The study's counts, shown while a search runs: trials complete (``finished``),
    pruned, failed and running, and the number of candidates the search trains
    (``target``)."""

    finished: int
    pruned: int
    failed: int
    running: int
    target: int


def parse_text(space: str) -> Any:
    """The ``SpaceSpec`` of the space text ``space`` (``parse_space``)."""
    from prodint.interaction.space import parse_space

    if not isinstance(space, str):
        raise TypeError(f"space: expected a space text, received {describe(space)}")
    return parse_space(space)


def candidates_of(settings: SearchSettings) -> list[Any]:
    """The candidates of the space of ``settings`` at its width and length."""
    return _enumerate(settings.space, settings.width, settings.length)


@functools.lru_cache(maxsize=4)
def _enumerate(space: str, width: int, length: int) -> list[Any]:
    """The candidates of a space, enumerated once per process (a large space takes
    seconds)."""
    from prodint.interaction.space import enumerate_space

    return enumerate_space(parse_text(space), width=width, length=length)


class FreshKeySampler(optuna.samplers.TPESampler):
    """A seeded TPE sampler whose ``key`` is never one the study already holds: a value TPE
    proposes twice is replaced by a seeded random choice among the keys not yet tried."""

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                           param_name: str, param_distribution: Any) -> Any:
        value = super().sample_independent(study, trial, param_name, param_distribution)
        if param_name != "key":
            return value
        taken = {trial_key(t) for t in study.get_trials(deepcopy=False) if t.number != trial.number}
        if value not in taken:
            return value
        fresh = [c for c in param_distribution.choices if c not in taken]
        if not fresh:
            return value
        seed = study.user_attrs.get("seed", 0)
        return fresh[np.random.default_rng([seed, trial.number]).integers(len(fresh))]


def trial_key(trial: optuna.trial.FrozenTrial) -> str | None:
    """The candidate key of ``trial``: its parameter, or the one it was queued with."""
    return trial.params.get("key", trial.system_attrs.get("fixed_params", {}).get("key"))


def _pruner(name: str) -> optuna.pruners.BasePruner:
    """The pruner ``name``: the median rule after 3 complete trials, successive halving, or
    none."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def open_plan(plan: SearchPlan) -> tuple[optuna.Study, bool]:
    """The plan's study (created if missing, :func:`~prodint.search.study.open_study`) with
    its direction, sampler and pruner, and whether this call created it."""
    direction = "maximize" if TASKS[plan.settings.task].higher_is_better else "minimize"
    return open_study(plan.storage, plan.study, plan.settings, direction=direction,
                      sampler=FreshKeySampler(seed=plan.settings.seed),
                      pruner=_pruner(plan.pruner), heartbeat=plan.heartbeat)


def _pop(study: optuna.Study) -> optuna.Trial | None:
    """A waiting trial taken by this process (``WAITING -> RUNNING`` is one atomic update),
    its first heartbeat recorded at once (a trial without any is never found stale)."""
    storage = study._storage
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
                storage.record_heartbeat(frozen._trial_id)
                return optuna.Trial(study, frozen._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


class _Heartbeat:
    """Beats the trial's heartbeat every ``interval`` seconds while the block runs."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial, interval: int) -> None:
        self.storage, self.trial_id, self.interval = study._storage, trial._trial_id, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while True:
            self.storage.record_heartbeat(self.trial_id)
            if self.stop.wait(self.interval):
                return

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def study_counts(study: optuna.Study, target: int) -> SearchProgress:
    """The trial counts of ``study`` towards ``target`` candidates."""
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    return SearchProgress(states.count(TrialState.COMPLETE), states.count(TrialState.PRUNED),
                          states.count(TrialState.FAIL), states.count(TrialState.RUNNING),
                          target)


def _next(study: optuna.Study, target: int, sampled: bool, wait: float
          ) -> optuna.Trial | None:
    """The next trial this worker runs, or ``None`` when the search is over."""
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        trial = _pop(study)
        if trial is not None:
            return trial
        trials = study.get_trials(deepcopy=False)
        if sampled and len({trial_key(t) for t in trials} - {None}) < target:
            with warnings.catch_warnings():   # the heartbeat is beaten here, not by optimize
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                trial = study.ask()
            study._storage.record_heartbeat(trial._trial_id)
            return trial
        if not any(t.state == TrialState.RUNNING for t in trials):
            return None
        time.sleep(wait)


def run_worker(plan: SearchPlan, progress: Callable[[SearchProgress], None] | None = None
               ) -> int:
    """Run trials of the planned study until none is left; return how many this process ran.
    ``progress`` is called with the study's counts after each trial.

    Raises:
        TypeError: ``plan`` is not a :class:`SearchPlan`, ``progress`` not callable.
        ValueError: the study holds other settings than ``plan`` (as :func:`plan_search`).
    """
    check_instance(plan, "plan", SearchPlan)
    progress = check_callable(progress, "progress", optional=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plan.out.mkdir(parents=True, exist_ok=True)
    study, _ = open_plan(plan)
    candidates = {c.key: c for c in candidates_of(plan.settings)}
    keys = list(candidates)
    sampled = study.user_attrs.get("mode") == "sampled"
    target = min(plan.budget, len(keys)) if sampled else len(keys)
    ran = 0
    while (trial := _next(study, target, sampled, min(2.0, plan.heartbeat / 2))) is not None:
        key = trial.suggest_categorical("key", keys)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        folder = plan.out / "trials" / f"{trial.number:04d}"
        try:
            with _Heartbeat(study, trial, plan.heartbeat):
                outcome = _train(trial, candidates[key], plan.settings, folder)
            if isinstance(outcome, TrialState):
                study.tell(trial, state=outcome)
            else:
                study.tell(trial, outcome)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass   # its heartbeat was late: another worker gave it up and queued it again
        ran += 1
        if progress is not None:
            progress(study_counts(study, target))
    return ran


def _train(trial: optuna.Trial, candidate: Any, settings: SearchSettings, folder: Path
           ) -> float | TrialState:
    """The trial's metric, or the state it ends in (pruned; failed when the loss
    diverged). Any other error is recorded as failed (not retried) and raised."""
    try:
        return run_candidate(trial, candidate, settings, folder)
    except optuna.TrialPruned:
        return TrialState.PRUNED
    except NonFiniteLossError as error:
        trial.set_user_attr("error", str(error))
        return TrialState.FAIL
    except optuna.exceptions.UpdateFinishedTrialError:
        raise
    except Exception:
        trial.study.tell(trial, state=TrialState.FAIL)
        raise


def worker_main(plan: SearchPlan) -> None:
    """The entry point of a spawned worker process: its share of the machine's cores (torch
    threads of several processes competing for the same cores slow every one of them
    several times over), then :func:`run_worker`."""
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // plan.workers))
    run_worker(plan)
