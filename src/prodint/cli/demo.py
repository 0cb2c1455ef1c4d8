"""``prodint demo``: the quick form of the main job, ``prodint reproduce --quick``.

The tour of what prodint builds (every table checked) and the source papers' experiments on
their small budget run one after the other, each section printed as it comes, and
``report.md``, ``report.json`` and the plots are written to ``--out``. The exit status is 0
when every check of every table passed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from prodint.cli.arguments import add_out, check_out
from prodint.cli.reproduce import report
from prodint.experiments.protocol import Budget

__all__ = ["FILES", "SIZE", "add_parser", "check", "run"]

#: The files written under ``--out`` (besides the plots).
FILES = ("report.md", "report.json")
#: The budget of the experiments (:data:`prodint.experiments.reproduce.SIZES`).
SIZE = "quick"

DESCRIPTION = """\
Run the quick form of prodint reproduce and write its report: the tour of what prodint
builds (the algebra catalogue with each algebra's defining identity checked, classical
layers as product interactions with their orders, the zoo checked and timed against torch,
learned and constrained structure constants, the Deep Tensor Network operators, HyperCube's
verdicts, the design space), then the source papers' experiments on a small budget.

Exit status 0 when every check passed, 1 otherwise. Takes a few minutes."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prodint demo``."""
    parser = subparsers.add_parser("demo", help="run the quick form of prodint reproduce and "
                                                "write its report", description=DESCRIPTION)
    add_out(parser, "report.md, report.json and the plots", default=Path("reports/demo"))
    return parser


def check(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` where the report cannot be written, before anything runs."""
    check_out(args, FILES)


def run(args: argparse.Namespace, console: Console) -> int:
    """Run, print and write every section (:func:`prodint.cli.reproduce.report`); 0 if every
    check passed, else 1."""
    return report(Budget(SIZE), args.out, None, console)
