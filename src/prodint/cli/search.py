"""``prodint search``: train the candidates of a design space on a task and rank them.

``prodint search --space SPEC --task TASK --budget N --out DIR [--storage URL]
[--workers K] [--steps S] [--width W] [--depth D] [--batch B] [--seed S] [--study NAME]
[--heartbeat S] [--pruner median|halving|none]`` enumerates the space
(:func:`prodint.interaction.space.parse_space`), trains up to ``N`` candidates as the mixer of
a small model with ``K`` worker processes sharing one Optuna study, and writes
``report.md``, ``results.json`` and two plots into ``DIR`` (:func:`prodint.search.search`).
Everything is checked before anything is written: a bad space text, a task, a budget of
zero, an unreachable storage, a storage whose study searches another space. Rerunning the
same command continues the study (finished candidates are not trained again); on other
machines, the same command with the same ``--storage`` (a PostgreSQL URL) adds workers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from prodint.cli.arguments import count, positive_int, seed
from prodint.cli.arguments import writable_dir as folder
from prodint.search import SEARCH_TASKS, SearchProgress, plan_search, search
from prodint.search.run import PRUNERS

__all__ = ["add_parser", "check", "run"]

DESCRIPTION = """\
Search a design space of product interactions: every candidate of the space (its order,
channel algebras, token mixings and filters, e.g.
"order=3,algebras=hadamard+complex,mixing=window+attention,causal,params=20000") becomes the
mixer of a small model, trained for a few steps on a task (seq-digits, copy, shakespeare)
and ranked by its validation metric. The trials live in an Optuna study (default
DIR/study.db; a PostgreSQL URL lets several machines share it): rerun the same command to
continue a search, or run it on other machines with the same --storage to add workers.

Writes report.md (leaderboard, where the classical layers land), results.json and the plots
metric_vs_order.png and metric_vs_parameters.png into --out."""

#: The options each argument of :func:`prodint.search.plan_search` is given by.
_OPTIONS = {name: f"--{name}" for name in ("space", "task", "budget", "out", "storage",
                                           "workers", "steps", "width", "depth", "batch",
                                           "seed", "study", "heartbeat", "pruner")}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prodint search``."""
    parser = subparsers.add_parser("search", help="train and rank the candidates of a design "
                                                  "space (Optuna study, workers, report)",
                                   description=DESCRIPTION)
    parser.add_argument("--space", default="", metavar="SPEC",
                        help="the space: comma-separated key=value items (order, algebras, "
                             "mixing, functions, kernel, params, causal, equivariant, "
                             "substitutions), lists joined by + (default: order=3 in the "
                             "Hadamard algebra with every mixing)")
    parser.add_argument("--task", default="seq-digits", choices=SEARCH_TASKS,
                        help="the task every candidate trains on (default seq-digits)")
    parser.add_argument("--budget", type=positive_int, default=30, metavar="N",
                        help="candidates to train (all of them when N covers the space; "
                             "else a seeded TPE sampler picks N; default 30)")
    parser.add_argument("--out", type=folder, default=Path("runs") / "search", metavar="DIR",
                        help="folder for report.md, results.json, the plots, study.db and "
                             "trials/ (default runs/search)")
    parser.add_argument("--storage", default=None, metavar="URL",
                        help="the study's database (default sqlite:///DIR/study.db; "
                             "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB for several "
                             "machines)")
    parser.add_argument("--workers", type=count(1, 256), default=1, metavar="K",
                        help="worker processes on this machine (default 1)")
    parser.add_argument("--steps", type=positive_int, default=60,
                        help="training steps per candidate (default 60)")
    parser.add_argument("--width", type=count(1, 4096), default=16,
                        help="model width (default 16)")
    parser.add_argument("--depth", type=count(1, 64), default=1,
                        help="blocks of the model (default 1)")
    parser.add_argument("--batch", type=count(1, 10**5), default=32,
                        help="batch size (default 32)")
    parser.add_argument("--seed", type=seed, default=0,
                        help="seed of the sampler, the models and the data order (default 0)")
    parser.add_argument("--study", default=None, metavar="NAME",
                        help="the study's name (default search; one storage may hold several "
                             "searches)")
    parser.add_argument("--heartbeat", type=count(1, 3600), default=10, metavar="S",
                        help="seconds between a trial's heartbeats; a trial silent for twice "
                             "as long (a killed worker) is trained again (default 10)")
    parser.add_argument("--pruner", choices=PRUNERS, default="median",
                        help="early stopping of trailing candidates (default median)")
    return parser


def _options(args: argparse.Namespace) -> dict[str, object]:
    return {name: getattr(args, name) for name in _OPTIONS}


def _named(error: Exception) -> Exception:
    """``error`` with the argument it names given as its option (``storage:`` ->
    ``--storage:``)."""
    key, _, rest = str(error).partition(":")
    if key in _OPTIONS:
        return type(error)(f"{_OPTIONS[key]}:{rest}")
    return error


def check(args: argparse.Namespace) -> None:
    """Check the space, the task, the budget, the storage and the study it may hold, before
    anything is written."""
    try:
        args.plan = plan_search(**_options(args))
    except (TypeError, ValueError) as error:
        raise _named(error) from None


def run(args: argparse.Namespace, console: Console) -> int:
    """Run the search with a progress bar over the study's trials, then print the best."""
    plan = args.plan
    target = plan.size if plan.settings.mode == "exhaustive" else min(plan.budget, plan.size)
    columns = (TextColumn("trials"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("search", total=target, detail="")

        def update(step: SearchProgress) -> None:
            done = step.finished + step.pruned + step.failed
            bar.update(task, completed=min(done, step.target), total=step.target,
                       detail=f"{step.pruned} pruned, {step.failed} failed, "
                              f"{step.running} running")

        try:
            path = search(**_options(args), progress=update)
        except (TypeError, ValueError) as error:
            raise _named(error) from None
    console.print(f"searched {plan.size} candidates of {plan.settings.space} on "
                  f"{plan.settings.task}: report in {Path(path)}", highlight=False)
    return 0
