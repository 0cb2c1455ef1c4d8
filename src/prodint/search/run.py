"""The search loop: plan, queue or sample the candidates, run workers, write the report.

:func:`plan_search` checks everything first (the space text, the task, the budget, the
storage and the study it may already hold) and writes nothing. :func:`search` then opens the
study and runs ``workers`` processes on it:

- when the budget covers the space (``budget >= len(candidates)``) the study is
  *exhaustive*: the process that creates it queues every candidate once (``enqueue_trial``;
  creating the study is atomic in the database, so two processes starting at once never
  both queue) and every worker takes waiting trials until none is left: each candidate is
  trained exactly once;
- otherwise it is *sampled*: a seeded TPE sampler over the candidate keys picks candidates
  not yet tried (:class:`FreshKeySampler`) until ``budget`` distinct candidates have been
  tried (with ``K`` workers, up to ``K - 1`` more may start while the last ones run).

A worker takes a waiting trial atomically (the state change ``WAITING -> RUNNING`` is one
database update that only one process wins), beats its heartbeat while training, and before
each trial marks failed the trials whose heartbeat stopped (a killed process), which queues
them again; a worker with nothing to take waits while trials of others still run, so a
crashed trial is finished by whoever is left. Workers on other machines run the same
``prodint search`` command with the same ``--storage``.
"""

from __future__ import annotations

import multiprocessing
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
from optuna.exceptions import ExperimentalWarning
from optuna.trial import TrialState

from prodint.checks import (
    check_callable,
    check_choice,
    check_instance,
    check_int,
    describe,
)
from prodint.search.objective import CAUSAL_TASKS, run_candidate, task_length
from prodint.search.study import (
    SEARCH_TASKS,
    STUDY_FILE,
    SearchSettings,
    check_study,
    default_storage,
    open_study,
    wait_for_queue,
)
from prodint.storage import check_output_folder
from prodint.train.tasks import TASKS
from prodint.train.trainer import NonFiniteLossError

__all__ = ["PRUNERS", "FreshKeySampler", "SearchPlan", "SearchProgress", "plan_search",
           "run_worker", "search"]

PRUNERS = ("median", "halving", "none")
#: The name of a search's study unless ``study`` names another.
DEFAULT_STUDY = "search"


@dataclass(frozen=True)
class SearchPlan:
    """A checked search: the settings, where the study is, the budget and the workers."""

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
    """The study's counts, shown while a search runs."""

    finished: int
    pruned: int
    failed: int
    running: int
    target: int


def _space(space: str) -> Any:
    from prodint.interaction.space import parse_space

    if not isinstance(space, str):
        raise TypeError(f"space: expected a space text, received {describe(space)}")
    return parse_space(space)


def _candidates(settings: SearchSettings) -> list[Any]:
    from prodint.interaction.space import enumerate_space

    return enumerate_space(_space(settings.space), width=settings.width,
                           length=settings.length)


def plan_search(space: str, task: str, budget: int, out: Path, *, storage: str | None = None,
                workers: int = 1, steps: int = 60, width: int = 16, depth: int = 1,
                batch: int = 32, seed: int = 0, study: str | None = None,
                heartbeat: int = 10, pruner: str = "median") -> SearchPlan:
    """Check a search (see :func:`search` for the arguments) without writing anything.

    Raises:
        TypeError, ValueError: a bad argument (named); a space text refused by
            ``parse_space`` (``space: ...``), an empty space, a task with no causal
            candidate where it needs one; an unreachable storage or one whose study holds
            another space or task (naming ``storage`` or the setting).
    """
    check_choice(task, "task", SEARCH_TASKS)
    budget = check_int(budget, "budget", minimum=1, maximum=10**6)
    workers = check_int(workers, "workers", minimum=1, maximum=256)
    steps = check_int(steps, "steps", minimum=1, maximum=10**7)
    width = check_int(width, "width", minimum=1, maximum=4096)
    depth = check_int(depth, "depth", minimum=1, maximum=64)
    batch = check_int(batch, "batch", minimum=1, maximum=10**5)
    seed = check_int(seed, "seed", minimum=0, maximum=2**32 - 1)   # the sampler's range
    heartbeat = check_int(heartbeat, "heartbeat", minimum=1, maximum=3600)
    check_choice(pruner, "pruner", PRUNERS)
    out = check_output_folder(out, "out", ["report.md", "results.json"])
    if storage is not None and not isinstance(storage, str):
        raise TypeError(f"storage: expected a database URL or None, received "
                        f"{describe(storage)}")
    if study is not None and (not isinstance(study, str) or not study.strip()):
        raise ValueError(f"study: expected a non-empty study name or None, received "
                         f"{describe(study)}")
    spec = _space(space)
    settings = SearchSettings(spec.text(), spec.fingerprint(), task, width, depth,
                              task_length(task), steps, batch, seed, "exhaustive")
    try:
        candidates = _candidates(settings)
    except ValueError as error:
        raise ValueError(f"space: expected a space that can be enumerated at width {width} "
                         f"and length {settings.length}, received {spec.text()!r} "
                         f"({error})") from None
    if task in CAUSAL_TASKS and not all(c.causal for c in candidates):
        raise ValueError(f"space: expected the flag causal for task {task!r} (a model "
                         f"predicting the next token reads no later input), received "
                         f"{spec.text()!r}")
    if not candidates:
        raise ValueError(f"space: expected a space with at least one candidate, received "
                         f"{spec.text()!r} (no candidate passes its filters)")
    mode = "exhaustive" if budget >= len(candidates) else "sampled"
    settings = SearchSettings(**(settings.as_attrs() | {"mode": mode}))
    url = storage if storage is not None else default_storage(out)
    name = study if study is not None else DEFAULT_STUDY
    # the default storage of a folder not yet created holds nothing (and is not created)
    fresh = storage is None and not (out / STUDY_FILE).exists()
    exists = False if fresh else check_study(url, name, settings)
    return SearchPlan(settings, url, name, budget, workers, out, len(candidates), heartbeat,
                      pruner, exists)


class FreshKeySampler(optuna.samplers.TPESampler):
    """A seeded TPE sampler whose ``key`` is never one the study already holds: a value TPE
    proposes twice is replaced by a seeded random choice among the keys not yet tried."""

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                           param_name: str, param_distribution: Any) -> Any:
        value = super().sample_independent(study, trial, param_name, param_distribution)
        if param_name != "key":
            return value
        taken = {_key(t) for t in study.get_trials(deepcopy=False) if t.number != trial.number}
        if value not in taken:
            return value
        fresh = [c for c in param_distribution.choices if c not in taken]
        if not fresh:
            return value
        seed = study.user_attrs.get("seed", 0)
        return fresh[np.random.default_rng([seed, trial.number]).integers(len(fresh))]


def _key(trial: optuna.trial.FrozenTrial) -> str | None:
    return trial.params.get("key", trial.system_attrs.get("fixed_params", {}).get("key"))


def _pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def _open(plan: SearchPlan) -> tuple[optuna.Study, bool]:
    direction = "maximize" if TASKS[plan.settings.task].higher_is_better else "minimize"
    return open_study(plan.storage, plan.study, plan.settings, direction=direction,
                      sampler=FreshKeySampler(seed=plan.settings.seed),
                      pruner=_pruner(plan.pruner), heartbeat=plan.heartbeat)


def _queue(study: optuna.Study, keys: list[str], created: bool) -> None:
    """Queue every key not yet in the study, once: by the study's creator, or by a later
    process when the creator stopped before marking its queue complete."""
    if not created and wait_for_queue(study):
        return
    present = {_key(t) for t in study.get_trials(deepcopy=False)}
    for key in keys:
        if key not in present:
            study.enqueue_trial({"key": key})
    study.set_user_attr("queued", True)


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


def _counts(study: optuna.Study, target: int) -> SearchProgress:
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
        if sampled and len({_key(t) for t in trials} - {None}) < target:
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
    study, _ = _open(plan)
    candidates = {c.key: c for c in _candidates(plan.settings)}
    keys = list(candidates)
    sampled = study.user_attrs.get("mode") == "sampled"
    target = min(plan.budget, len(keys)) if sampled else len(keys)
    ran = 0
    while (trial := _next(study, target, sampled, min(2.0, plan.heartbeat / 2))) is not None:
        key = trial.suggest_categorical("key", keys)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        folder = plan.out / "trials" / f"{trial.number:04d}"
        with _Heartbeat(study, trial, plan.heartbeat):
            try:
                value = run_candidate(trial, candidates[key], plan.settings, folder)
            except optuna.TrialPruned:
                study.tell(trial, state=TrialState.PRUNED)
            except NonFiniteLossError as error:
                trial.set_user_attr("error", str(error))
                study.tell(trial, state=TrialState.FAIL)
            except Exception:
                study.tell(trial, state=TrialState.FAIL)   # a bug: recorded, not retried
                raise
            else:
                study.tell(trial, value)
        ran += 1
        if progress is not None:
            progress(_counts(study, target))
    return ran


def _worker_main(plan: SearchPlan) -> None:
    run_worker(plan)


def search(space: str, task: str, budget: int, out: Path, *, storage: str | None = None,
           workers: int = 1, steps: int = 60, width: int = 16, depth: int = 1,
           batch: int = 32, seed: int = 0, study: str | None = None, heartbeat: int = 10,
           pruner: str = "median", progress: Callable[[SearchProgress], None] | None = None
           ) -> Path:
    """Search the space ``space`` on ``task``, train up to ``budget`` candidates with
    ``workers`` processes sharing one study, and write the report into ``out``; return the
    path of ``report.md``.

    Args:
        space: the space text (``prodint.interaction.space.parse_space``), e.g.
            ``"order=3,algebras=hadamard+complex,mixing=window+attention"``.
        task: one of :data:`~prodint.search.objective.SEARCH_TASKS`.
        budget: the number of distinct candidates to train (all of them when it covers the
            space).
        out: the folder of ``report.md``, ``results.json``, the plots, ``study.db`` (the
            default storage) and ``trials/`` (one training run per trial).
        storage: a SQLAlchemy database URL (default ``sqlite:///OUT/study.db``);
            ``postgresql+psycopg://...`` for several machines.
        workers: processes on this machine (spawned; each runs :func:`run_worker`).
        steps, width, depth, batch, seed: the training of each candidate (``steps`` AdamW
            steps on batches of ``batch``; a model of ``depth`` blocks of ``width``).
        study: the study's name (default :data:`DEFAULT_STUDY`; a storage may hold several
            searches under different names).
        heartbeat: seconds between a running trial's heartbeats (a trial without one for
            twice as long is re-queued).
        pruner: ``"median"`` (Optuna's MedianPruner), ``"halving"`` (successive halving) or
            ``"none"``.
        progress: called with the study's counts as trials finish.

    Raises:
        TypeError, ValueError: as :func:`plan_search`, before anything is written.
        RuntimeError: a worker process exited with an error.
    """
    from prodint.search.report import write_search_report

    progress = check_callable(progress, "progress", optional=True)
    plan = plan_search(space, task, budget, out, storage=storage, workers=workers,
                       steps=steps, width=width, depth=depth, batch=batch, seed=seed,
                       study=study, heartbeat=heartbeat, pruner=pruner)
    plan.out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    opened, created = _open(plan)
    if opened.user_attrs.get("mode") == "exhaustive":
        _queue(opened, [c.key for c in _candidates(plan.settings)], created)
    if plan.workers == 1:
        run_worker(plan, progress)
    else:
        _spawn(plan, opened, progress)
    return write_search_report(opened, plan)


def _spawn(plan: SearchPlan, study: optuna.Study,
           progress: Callable[[SearchProgress], None] | None) -> None:
    """Run ``plan.workers`` worker processes and poll the study for ``progress``."""
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker_main, args=(plan,), daemon=False)
                 for _ in range(plan.workers)]
    for process in processes:
        process.start()
    target = plan.size if study.user_attrs.get("mode") == "exhaustive" else \
        min(plan.budget, plan.size)
    while any(p.is_alive() for p in processes):
        if progress is not None:
            progress(_counts(study, target))
        time.sleep(0.5)
    for process in processes:
        process.join()
    failed = [p.exitcode for p in processes if p.exitcode]
    if failed:
        raise RuntimeError(f"workers: expected every worker to finish, received exit "
                           f"statuses {failed}")
    if progress is not None:
        progress(_counts(study, target))
