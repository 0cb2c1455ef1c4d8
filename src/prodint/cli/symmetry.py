"""``prodint symmetry``: the rotated-polycube experiment, printed and written as JSON.

Runs :func:`prodint.experiments.polycubes.run_polycube_experiment`, prints one row per model
and, with ``--out DIR``, writes ``results.json`` there.
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from prodint.cli.arguments import add_out, check_out, count, non_negative_int, positive_int, seed
from prodint.experiments.polycubes import (
    MAX_STEPS,
    check_experiment,
    results_as_dicts,
    run_polycube_experiment,
)
from prodint.report import write_json

__all__ = ["FILES", "add_parser", "check", "run"]

#: The files written under ``--out``.
FILES = ("results.json",)

DESCRIPTION = """\
Train a tensor field network (rotation invariant by construction) and an MLP on raw
coordinates to classify the eight tetracubes, on the canonical orientation only (or on a few
fixed rotations), and test both on randomly rotated shapes: the equivariant model keeps its
accuracy, the MLP does not."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prodint symmetry``."""
    parser = subparsers.add_parser(
        "symmetry", help="train a tensor field network and a coordinate MLP on polycubes in "
                         "one orientation, test on random rotations",
        description=DESCRIPTION)
    parser.add_argument("--steps", type=count(1, MAX_STEPS), default=200,
                        help="training steps per model (default 200)")
    parser.add_argument("--train-rotations", type=non_negative_int, default=0,
                        help="0: canonical orientation only; r: r fixed random rotations "
                             "(default 0)")
    parser.add_argument("--test-per-class", type=positive_int, default=64,
                        help="randomly rotated test samples per class (default 64)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of data and weights "
                                                             "(default 0)")
    add_out(parser, "results.json")
    return parser


def check(args: argparse.Namespace) -> None:
    """Refuse, before training, an ``--out`` where ``results.json`` cannot be written and
    sizes that would not fit in memory (:func:`check_experiment`)."""
    check_out(args, FILES)
    check_experiment(steps=args.steps, train_rotations=args.train_rotations,
                     test_per_class=args.test_per_class, seed=args.seed)


def run(args: argparse.Namespace, console: Console) -> int:
    """Run the experiment, print the table, write ``results.json`` with ``--out``."""
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
    if args.out is not None:
        path = args.out / "results.json"
        write_json(path, {"steps": args.steps, "train_rotations": args.train_rotations,
                          "seed": args.seed, "results": results_as_dicts(results)})
        console.print(f"results: {path.resolve()}")
    return 0
