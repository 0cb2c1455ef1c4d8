"""``prodint demo``: the tour of what prodint builds, every table checked, written as a report.

The surveys run one after the other (:mod:`prodint.surveys`), each table is printed as it
comes, and ``report.md`` and ``report.json`` are written to ``--out``. The exit status is 0
when every check of every table passed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from prodint.cli.arguments import add_out, check_out
from prodint.report import Section, print_section, write_report
from prodint.surveys import algebra, hypercube, interaction, ops, zoo

__all__ = ["FILES", "STEPS", "add_parser", "check", "run"]

#: The files written under ``--out``.
FILES = ("report.md", "report.json")

#: ``(status message, section builder)`` in the order of the report.
STEPS: tuple[tuple[str, Callable[[], Section]], ...] = (
    ("surveying the algebra catalogue", algebra.section),
    ("compiling classical layers", interaction.library_section),
    ("measuring the zoo against torch", zoo.section),
    ("solving for equivariant structure constants", interaction.symmetry_section),
    ("constraining expressions by a symmetry", interaction.constrain_section),
    ("checking the Deep Tensor Network operators", ops.section),
    ("asking HyperCube which tables are groups", hypercube.section),
    ("enumerating the design space", interaction.design_space_section),
)

DESCRIPTION = """\
Run the tour of what prodint builds and write its report: the algebra catalogue with each
algebra's defining identity checked, classical layers as product interactions with their
orders, the zoo of classical layers checked and timed against torch, learned structure
constants constrained by a symmetry, dense layers constrained into convolutions and group
convolutions, the Deep Tensor Network operators in their three forms,
HyperCube's verdict on group and non-group tables, and the size of the design space.

Exit status 0 when every check passed, 1 otherwise. Takes a few minutes."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prodint demo``."""
    parser = subparsers.add_parser("demo", help="run the tour of prodint and write its report",
                                   description=DESCRIPTION)
    add_out(parser, "report.md and report.json", default=Path("reports/demo"))
    return parser


def check(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` where the report cannot be written, before the tour starts."""
    check_out(args, FILES)


def run(args: argparse.Namespace, console: Console) -> int:
    """Build, print and write every section; 0 if every check passed, else 1."""
    sections = []
    for message, build in STEPS:
        with console.status(message):
            sections.append(build())
        print_section(console, sections[-1])
    report = write_report(sections, args.out)
    console.print(f"report: {report.resolve()}")
    return 0 if all(s.passed for s in sections) else 1
