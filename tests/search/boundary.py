"""Boundary entries of prodint.search: planning, searching, one worker, the report.

Every call works in a fresh folder under one temporary directory, on the tiny space of one
causal convolution (``window:X``) or three order-1 candidates, trained for 2 steps at width
4 on the sequential digits. ``search`` keeps its sizes fixed (each is fuzzed through
``plan_search``, which refuses or accepts the same values before anything is trained). The
study the report entries read is one finished search, built once.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import optuna
import torch

from prodint.search import (
    SearchSettings,
    plan_search,
    run_worker,
    search,
    search_rows,
    task_length,
    write_search_report,
)
from prodint.testing.contract import Entry

ONE = "order=1,mixing=window,functions=id,causal"
THREE = "order=1,mixing=window+scan+tokens,functions=id,causal"
_ROOT = tempfile.TemporaryDirectory(prefix="prodint-search-boundary-")


def _folder() -> Path:
    return Path(tempfile.mkdtemp(dir=_ROOT.name)) / "search"


def _search_arguments() -> dict[str, Any]:
    return dict(space=ONE, task="seq-digits", budget=1, out=_folder(), storage=None,
                workers=1, steps=2, width=4, depth=1, batch=8, seed=0, study="search",
                heartbeat=5, pruner="none", progress=None)


def _plan_arguments() -> dict[str, Any]:
    return {k: v for k, v in _search_arguments().items() if k != "progress"}


def _metrics(out: Path, name: str | None = None) -> torch.Tensor:
    study = optuna.load_study(study_name=name or "search",
                              storage=f"sqlite:///{out / 'study.db'}")
    return torch.tensor([r["metric"] for r in search_rows(study)], dtype=torch.float64)


def _run_search(a: dict[str, Any]) -> torch.Tensor:
    search(**a)
    return _metrics(a["out"], a["study"])


def _run_plan(a: dict[str, Any]) -> torch.Tensor:
    plan = plan_search(**a)
    return torch.tensor([plan.size, plan.budget, plan.settings.length])


def _worker_arguments() -> dict[str, Any]:
    plan = plan_search(THREE, "seq-digits", 1, _folder(), steps=2, width=4, batch=8,
                       heartbeat=5, pruner="none")
    return dict(plan=plan, progress=None)


def _run_worker(a: dict[str, Any]) -> torch.Tensor:
    ran = run_worker(**a)
    return torch.cat([torch.tensor([float(ran)], dtype=torch.float64),
                      _metrics(a["plan"].out)])


@functools.cache
def _finished() -> Any:
    """One finished search of the three candidates: its plan."""
    arguments = _search_arguments() | dict(space=THREE, budget=3)
    search(**arguments)
    return plan_search(**{k: v for k, v in arguments.items() if k != "progress"})


def _study() -> optuna.Study:
    return optuna.load_study(study_name="search", storage=_finished().storage)


def _rows(a: dict[str, Any]) -> torch.Tensor:
    return torch.tensor([r["metric"] for r in search_rows(**a)], dtype=torch.float64)


def _report(a: dict[str, Any]) -> torch.Tensor:
    path = write_search_report(**a)
    return torch.tensor([len(path.read_text())])


def _settings_arguments() -> dict[str, Any]:
    return dict(space=ONE, fingerprint="0" * 64, task="copy", width=8, depth=1, length=31,
                steps=3, batch=4, seed=0, mode="exhaustive")


ENTRIES = [
    Entry(("prodint.search.search",), _run_search, _search_arguments,
          fixed=frozenset({"steps", "budget", "width", "depth", "batch", "workers",
                           "heartbeat"}),
          free_text=frozenset({"space", "study"})),
    Entry(("prodint.search.plan_search",), _run_plan, _plan_arguments,
          free_text=frozenset({"space", "study"})),
    Entry(("prodint.search.run_worker", "prodint.search.SearchPlan",
           "prodint.search.SearchProgress"), _run_worker, _worker_arguments),
    Entry(("prodint.search.search_rows",), _rows, lambda: dict(study=_study())),
    Entry(("prodint.search.write_search_report",), _report,
          lambda: dict(study=_study(), plan=_finished())),
    Entry(("prodint.search.task_length",), lambda a: torch.tensor([task_length(**a)]),
          lambda: dict(task="copy")),
    Entry(("prodint.search.SearchSettings",),
          lambda a: torch.tensor([float(SearchSettings(**a).width)], dtype=torch.float64),
          _settings_arguments,
          free_text=frozenset({"space", "fingerprint"})),
]

EXEMPT = {
    "prodint.search.SEARCH_TASKS": "a constant, the tasks a search trains on",
}
