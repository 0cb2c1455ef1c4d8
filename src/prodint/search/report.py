"""The report of a search: leaderboard, plots and where the classical layers land.

:func:`search_rows` reads every trial of a study that trained a candidate (the latest one of
each candidate: a trial re-queued after a crash replaces the one that failed) and ranks the
completed ones by the task's validation metric, best first; pruned and failed trials follow,
unranked. :func:`write_search_report` writes into the search's folder, each file atomically
(:func:`prodint.storage.write_atomic`):

- ``results.json``: ``{"space", "fingerprint", "task", "metric", "higher_is_better",
  "width", "depth", "length", "steps", "batch", "seed", "mode", "study", "storage",
  "candidates", "trials": [...], "classical": [...]}``; each trial ``{"rank", "trial",
  "key", "formula", "order", "parameters", "model_parameters", "classical", "state"
  ("complete", "pruned" or "failed"), "metric", "seconds", "steps_done",
  "metric_per_parameter", "metric_per_second"}`` (``rank`` is ``null`` unless complete);
  each classical entry ``{"classical", "key", "rank", "metric"}``;
- ``report.md``: the leaderboard (rank, formula, order, parameters, metric, seconds, metric
  per parameter and per second), the classical layers' ranks and the two plots;
- ``metric_vs_order.png`` and ``metric_vs_parameters.png`` (matplotlib, Agg).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import optuna
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from optuna.trial import TrialState

from prodint.checks import check_instance
from prodint.report import Section, markdown
from prodint.search.study import safe_url
from prodint.storage import write_atomic
from prodint.train.tasks import TASKS

__all__ = ["PLOTS", "search_rows", "write_search_report"]

PLOTS = ("metric_vs_order.png", "metric_vs_parameters.png")
_STATES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
           TrialState.FAIL: "failed"}


def _ratio(metric: float | None, by: float | None) -> float | None:
    if metric is None or not by:
        return None
    return metric / by


def search_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per candidate the study trained (fields: module doc), ranked best first.

    Raises:
        TypeError: ``study`` is not an ``optuna.Study``.
    """
    check_instance(study, "study", optuna.Study)
    latest: dict[str, optuna.trial.FrozenTrial] = {}
    for trial in study.get_trials(deepcopy=False, states=tuple(_STATES)):
        key = trial.user_attrs.get("key")
        if key is not None and (key not in latest or trial.number > latest[key].number):
            latest[key] = trial
    higher = study.direction == optuna.study.StudyDirection.MAXIMIZE
    rows = []
    for trial in latest.values():
        a = trial.user_attrs
        metric = trial.value if trial.state == TrialState.COMPLETE else a.get("metric")
        rows.append({"rank": None, "trial": trial.number, "key": a["key"],
                     "formula": a.get("formula"), "order": a.get("order"),
                     "parameters": a.get("parameters"),
                     "model_parameters": a.get("model_parameters"),
                     "classical": a.get("classical"), "state": _STATES[trial.state],
                     "metric": metric, "seconds": a.get("seconds"),
                     "steps_done": a.get("steps_done"),
                     "metric_per_parameter": _ratio(metric, a.get("parameters")),
                     "metric_per_second": _ratio(metric, a.get("seconds"))})
    order = {"complete": 0, "pruned": 1, "failed": 2}
    sign = -1.0 if higher else 1.0

    def rank_key(row: dict[str, Any]) -> tuple[int, float, int]:
        value = row["metric"]
        return (order[row["state"]], sign * value if value is not None else math.inf,
                row["trial"])

    rows.sort(key=rank_key)
    for i, row in enumerate(r for r in rows if r["state"] == "complete"):
        row["rank"] = i + 1
    return rows


def _png(figure: Figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    write_atomic(path, buffer.getvalue())


def _plot(rows: list[dict[str, Any]], x: str, label: str, metric: str, path: Path,
          log: bool) -> None:
    figure = Figure(figsize=(6.0, 4.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for state, marker in (("complete", "o"), ("pruned", "x")):
        points = [r for r in rows if r["state"] == state and r["metric"] is not None]
        axes.scatter([r[x] for r in points], [r["metric"] for r in points], marker=marker,
                     label=state, alpha=0.8)
    for r in rows:
        if r["classical"] and r["metric"] is not None:
            axes.annotate(r["classical"], (r[x], r["metric"]), fontsize=7,
                          textcoords="offset points", xytext=(4, 4))
    if log:
        axes.set_xscale("log")
    else:   # orders are whole numbers
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(label)
    axes.set_ylabel(f"validation {metric}")
    axes.legend(loc="best")
    figure.tight_layout()
    _png(figure, path)


def _cell(value: Any) -> Any:
    return "-" if value is None else value


def write_search_report(study: optuna.Study, plan: Any) -> Path:
    """Write ``results.json``, ``report.md`` and the plots of ``study`` (searched as
    ``plan``, a :class:`~prodint.search.run.SearchPlan`) into ``plan.out``; return the path of
    ``report.md``.

    Raises:
        TypeError: ``study`` is not an ``optuna.Study``, ``plan`` not a ``SearchPlan``.
        OSError: a file cannot be written (the old one, if any, is left as it was).
    """
    from prodint.search.run import SearchPlan

    check_instance(plan, "plan", SearchPlan)
    rows = search_rows(study)
    settings, task = plan.settings, TASKS[plan.settings.task]
    classical = [{"classical": r["classical"], "key": r["key"], "rank": r["rank"],
                  "metric": r["metric"]} for r in rows if r["classical"]]
    results = settings.as_attrs() | {
        "mode": study.user_attrs.get("mode", settings.mode), "metric": task.metric_name,
        "higher_is_better": task.higher_is_better, "study": plan.study,
        "storage": safe_url(plan.storage), "candidates": plan.size, "trials": rows,
        "classical": classical}
    out = Path(plan.out)
    write_atomic(out / "results.json", json.dumps(results, indent=2) + "\n")
    _plot(rows, "order", "self-interaction order", task.metric_name, out / PLOTS[0], False)
    _plot(rows, "parameters", "parameters of the mixer", task.metric_name, out / PLOTS[1],
          True)
    better = "higher" if task.higher_is_better else "lower"
    board = Section(
        "Leaderboard",
        f"{len(rows)} of the {plan.size} candidates of the space `{settings.space}` trained "
        f"on {settings.task} ({settings.steps} steps, width {settings.width}), ranked by "
        f"validation {task.metric_name} ({better} is better); pruned and failed trials "
        f"follow unranked.",
        ["rank", "formula", "classical", "order", "parameters", task.metric_name, "seconds",
         f"{task.metric_name}/parameter", f"{task.metric_name}/second", "state"],
        [[_cell(r["rank"]), f"`{r['formula']}`", _cell(r["classical"]), r["order"],
          r["parameters"], _cell(r["metric"]), _cell(r["seconds"]),
          _cell(r["metric_per_parameter"]), _cell(r["metric_per_second"]), r["state"]]
         for r in rows],
        plots=list(PLOTS))
    complete = sum(r["state"] == "complete" for r in rows)
    layers = Section(
        "Classical layers",
        f"Where the classical layers of the space land among the {complete} completed "
        f"candidates.",
        ["classical", "rank", task.metric_name, "key"],
        [[c["classical"], _cell(c["rank"]), _cell(c["metric"]), f"`{c['key']}`"]
         for c in classical])
    text = markdown([board, layers], title=f"Design-space search on {settings.task}")
    path = out / "report.md"
    write_atomic(path, text)
    return path
