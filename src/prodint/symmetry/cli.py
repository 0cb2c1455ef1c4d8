"""``prodint symmetry``: run the rotated-polycube experiment, print a table, write JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from prodint.report import write_atomic
from prodint.symmetry.experiment import results_as_dicts, run_polycube_experiment

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``symmetry`` subcommand."""
    parser = subparsers.add_parser(
        "symmetry", help="train a tensor field network and a coordinate MLP on polycubes in "
                         "one orientation, test on random rotations")
    parser.add_argument("--steps", type=int, default=200, help="training steps per model")
    parser.add_argument("--train-rotations", type=int, default=0,
                        help="0: canonical orientation only; r: r fixed random rotations")
    parser.add_argument("--test-per-class", type=int, default=64,
                        help="randomly rotated test samples per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    return parser


def run(args: argparse.Namespace, console: Console) -> int:
    """Run the experiment with ``args``; returns the exit status."""
    if args.steps < 1 or args.test_per_class < 1 or args.train_rotations < 0:
        console.print("[red]--steps and --test-per-class must be positive, "
                      "--train-rotations non-negative[/red]")
        return 2
    with console.status("training on polycubes"):
        results = run_polycube_experiment(steps=args.steps, train_rotations=args.train_rotations,
                                          test_per_class=args.test_per_class, seed=args.seed)
    regime = "canonical" if args.train_rotations == 0 else f"{args.train_rotations} rotations"
    table = Table(title=f"Polycubes: trained on {regime}, tested on random rotations")
    for column in ("model", "parameters", "train acc", "canonical acc", "rotated acc",
                   "seconds"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in results:
        table.add_row(r.model, str(r.parameters), f"{r.train_accuracy:.3f}",
                      f"{r.canonical_accuracy:.3f}", f"{r.rotated_accuracy:.3f}",
                      f"{r.seconds:.1f}")
    console.print(table)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"steps": args.steps, "train_rotations": args.train_rotations,
                   "seed": args.seed, "results": results_as_dicts(results)}
        write_atomic(args.json, json.dumps(payload, indent=2) + "\n")
        console.print(f"results: {args.json.resolve()}")
    return 0
