"""``prodint hypercube``: is an operation table a group? Train, print the verdict, write results.

Trains HyperCube (:func:`prodint.hypercube.analyze_table`) on a built-in or given table,
prints the summary and the verdict's evidence and, with ``--out DIR``, writes
``summary.json``, ``training.png`` and ``spectra.png`` there.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prodint.cli.arguments import (
    add_out,
    check_out,
    fraction,
    non_negative_int,
    positive_int,
    readable_file,
    seed,
)
from prodint.hypercube.analyze import Analysis, analyze_table
from prodint.hypercube.plots import render_spectra, render_training
from prodint.hypercube.recipe import Recipe
from prodint.hypercube.tables import NEEDS_N, NEEDS_P, TASKS, load_table, make_table
from prodint.report import write_atomic, write_json

__all__ = ["FILES", "add_parser", "check", "run", "summary"]

#: The files written under ``--out``.
FILES = ("summary.json", "training.png", "spectra.png")

DESCRIPTION = """\
Factorize an operation table as T[a,b,c] = tr(A_a B_b C_c)/n from part of its cells, under
the regularizer H whose minimum 3n^2 on exact factorizations is reached exactly by group
isotopes with unitary factors. Prints the held-out accuracy, H/3n^2, the unitarity and
homomorphism errors and the verdict (is the table isotopic to a group?) with its evidence.

Tables: a built-in task (zp-* use --p, zn, sn and sn-conj use --n) or a file of rows of
symbols 0..n-1 (JSON list of rows, or CSV)."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prodint hypercube``."""
    p = subparsers.add_parser(
        "hypercube", help="is an operation table a group? learn its representation",
        description=DESCRIPTION)
    source = p.add_mutually_exclusive_group()
    source.add_argument("--task", choices=sorted(TASKS), default="s4",
                        help="built-in table (default s4)")
    source.add_argument("--table", type=readable_file, metavar="FILE",
                        help="a table file: JSON list of rows, or CSV, of symbols 0..n-1")
    p.add_argument("--p", type=positive_int, default=97,
                   help="modulus for the zp-* tasks, a prime for zp-mul and zp-div "
                        "(default 97)")
    p.add_argument("--n", type=positive_int, default=4,
                   help="k for zn, sn, sn-conj (default 4)")
    p.add_argument("--train-fraction", type=fraction, default=0.5,
                   help="share of cells observed in training, in (0, 1] (default 0.5)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the split and the factors "
                                                         "(default 0)")
    p.add_argument("--steps", type=positive_int, default=3000,
                   help="most steps per attempt (default 3000)")
    p.add_argument("--restarts", type=non_negative_int, default=3,
                   help="most restarts (default 3)")
    add_out(p, "summary.json, training.png and spectra.png")
    return p


def _task_name(args: argparse.Namespace) -> str:
    if args.table is not None:
        return str(args.table)
    if args.task in NEEDS_P:
        return f"{args.task} p={args.p}"
    if args.task in NEEDS_N:
        return f"{args.task} n={args.n}"
    return args.task


def _first(value: tuple[int, float] | None) -> dict[str, float] | None:
    return None if value is None else {"steps": value[0], "seconds": round(value[1], 3)}


def summary(args: argparse.Namespace, analysis: Analysis) -> dict[str, Any]:
    """The JSON record of a run (``held_out_perfect``/``train_perfect``: the steps and seconds
    from the start of training to 100% held-out/train accuracy, ``None`` if never)."""
    result, diag = analysis.result, analysis.diagnostics
    best = result.best
    return {
        "task": _task_name(args), "n": diag.n, "train_fraction": args.train_fraction,
        "seed": args.seed, "steps": result.steps, "seconds": round(result.seconds, 3),
        "held_out_perfect": _first(result.held_out_perfect),
        "train_perfect": _first(result.train_perfect),
        "attempts": [{"steps": a.steps, "converged": a.converged, "abandoned": a.abandoned,
                      "h_ratio": a.h_ratio, "train_loss": a.train_loss,
                      "seconds": round(a.seconds, 3)}
                     for a in result.attempts],
        "chosen_attempt": result.best_index, "converged": best.converged,
        "train_loss": best.train_loss, **diag.summary(),
    }


def _answer_line(record: dict[str, Any]) -> str:
    """When held-out and train accuracy first reached 100% (steps and seconds)."""
    parts = []
    for key, what in (("held_out_perfect", "held-out"), ("train_perfect", "train")):
        first = record[key]
        parts.append(f"100% {what} accuracy: never" if first is None else
                     f"100% {what} accuracy at step {first['steps']} "
                     f"({first['seconds']:.3g} s)")
    if record["test_accuracy"] is None:
        parts[0] = "no held-out cell"
    return "; ".join(parts)


def check(args: argparse.Namespace) -> None:
    """Refuse, before training, an ``--out`` where the results cannot be written, a table
    file that does not parse (or a task size that does not fit in memory) and a recipe the
    library refuses; keep the table and the recipe on ``args`` for :func:`run`."""
    check_out(args, FILES)
    args.cells = (load_table(args.table) if args.table is not None
                  else make_table(args.task, p=args.p, n=args.n))
    args.recipe = Recipe(max_steps=args.steps, restarts=args.restarts)


def run(args: argparse.Namespace, console: Console) -> int:
    """Train on the checked table, print the summary and evidence, write them with ``--out``;
    0 when done."""
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        job = bar.add_task(f"hypercube {_task_name(args)}", total=args.steps, info="")

        def progress(attempt: int, step: int, info: dict[str, float]) -> None:
            bar.update(job, completed=step,
                       info=f"attempt {attempt} loss {info['loss']:.2e} "
                            f"H/3n² {info['h_ratio']:.4f} ε {info['eps']:.1e}")

        analysis = analyze_table(args.cells, train_fraction=args.train_fraction,
                                 seed=args.seed, recipe=args.recipe, progress=progress)
    record = summary(args, analysis)
    out = Table(title=f"HyperCube: {record['task']}")
    out.add_column("quantity")
    out.add_column("value")
    for key in ("n", "train_fraction", "steps", "seconds", "converged", "train_loss",
                "test_accuracy", "h_ratio", "unitarity_error", "homomorphism_error",
                "is_group_isotope"):
        value = record[key]
        out.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    console.print(out)
    console.print(_answer_line(record), soft_wrap=True)
    evidence = Table(title="verdict evidence")
    for col in ("criterion", "value", "threshold", "passed"):
        evidence.add_column(col)
    for name, e in record["evidence"].items():
        value = f"{e['value']:.4g}" if isinstance(e["value"], float) else str(e["value"])
        evidence.add_row(name, value, e["threshold"], str(e["passed"]))
    console.print(evidence)
    if args.out is not None:
        write_json(args.out / "summary.json", record)
        write_atomic(args.out / "training.png", render_training(analysis.result))
        write_atomic(args.out / "spectra.png", render_spectra(analysis.diagnostics))
        console.print(f"results: {args.out.resolve()}")
    return 0
