"""The search: plan it, open the study, queue or sample the candidates, run the workers,
write the report.

:func:`plan_search` checks everything first (the space text, the task, the budget, the
storage and the study it may already hold) and writes nothing. :func:`search` then opens the
study and runs ``workers`` processes on it (:func:`~prodint.search.worker.run_worker`):

- when the budget covers the space (``budget >= len(candidates)``) the study is
  *exhaustive*: the process that creates it queues every candidate once (``enqueue_trial``;
  creating the study is atomic in the database, so two processes starting at once never
  both queue) and the workers take waiting trials until none is left: each candidate is
  trained exactly once;
- otherwise it is *sampled*: a seeded TPE sampler over the candidate keys picks candidates
  not yet tried until ``budget`` distinct candidates have been tried (with ``K`` workers, up
  to ``K - 1`` more may start while the last ones run).

Workers on other machines run the same ``prodint search`` command with the same
``--storage``.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path

import optuna

from prodint.checks import check_callable, check_choice, check_int, describe
from prodint.search.objective import CAUSAL_TASKS, task_length
from prodint.search.study import (
    SEARCH_TASKS,
    STUDY_FILE,
    SearchSettings,
    check_study,
    default_storage,
    wait_for_queue,
)
from prodint.search.worker import (
    PRUNERS,
    SearchPlan,
    SearchProgress,
    candidates_of,
    open_plan,
    parse_text,
    run_worker,
    study_counts,
    trial_key,
    worker_main,
)
from prodint.storage import check_output_folder

__all__ = ["DEFAULT_STUDY", "plan_search", "search"]

#: The name of a search's study unless ``study`` names another.
DEFAULT_STUDY = "search"


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
    spec = parse_text(space)
    settings = SearchSettings(spec.text(), spec.fingerprint(), task, width, depth,
                              task_length(task), steps, batch, seed, "exhaustive")
    try:
        candidates = candidates_of(settings)
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


def _queue(study: optuna.Study, keys: list[str], created: bool) -> None:
    """Queue every key not yet in the study, once: by the study's creator, or by a later
    process when the creator stopped before marking its queue complete."""
    if not created and wait_for_queue(study):
        return
    present = {trial_key(t) for t in study.get_trials(deepcopy=False)}
    for key in keys:
        if key not in present:
            study.enqueue_trial({"key": key})
    study.set_user_attr("queued", True)


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
        task: one of :data:`~prodint.search.study.SEARCH_TASKS`.
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
    opened, created = open_plan(plan)
    if opened.user_attrs.get("mode") == "exhaustive":
        _queue(opened, [c.key for c in candidates_of(plan.settings)], created)
    if plan.workers == 1:
        run_worker(plan, progress)
    else:
        _spawn(plan, opened, progress)
    return write_search_report(opened, plan)


def _spawn(plan: SearchPlan, study: optuna.Study,
           progress: Callable[[SearchProgress], None] | None) -> None:
    """Run ``plan.workers`` worker processes and poll the study for ``progress``."""
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=worker_main, args=(plan,), daemon=False)
                 for _ in range(plan.workers)]
    for process in processes:
        process.start()
    target = plan.size if study.user_attrs.get("mode") == "exhaustive" else \
        min(plan.budget, plan.size)
    while any(p.is_alive() for p in processes):
        if progress is not None:
            progress(study_counts(study, target))
        time.sleep(0.5)
    for process in processes:
        process.join()
    failed = [p.exitcode for p in processes if p.exitcode]
    if failed:
        raise RuntimeError(f"workers: expected every worker to finish, received exit "
                           f"statuses {failed}")
    if progress is not None:
        progress(study_counts(study, target))
