"""``prodint zoo``: every zoo family's executions checked against torch (or a peer), timed."""

from __future__ import annotations

import argparse

from rich.console import Console

from prodint.report import print_section
from prodint.surveys import zoo

__all__ = ["add_parser", "check", "run"]

DESCRIPTION = """\
Check every family of classical layers (dense, convolutions, gated units, attention,
recurrent cells, Clifford and group convolutions, Mamba, the transformer encoder layer)
against its counterpart outside prodint on the same weights: the largest float64 difference
of the layer's fast forward, of its compiled expression (general) and of its node-by-node
evaluation (reference), with its self-interaction order and its forward-time ratio to the
counterpart (float32). Executions that fail are listed under the table. Exit status 0 when
every execution matches to 1e-10."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prodint zoo``."""
    return subparsers.add_parser(
        "zoo", help="every classical layer family against its torch counterpart",
        description=DESCRIPTION)


def check(args: argparse.Namespace) -> None:
    """Nothing to refuse: the command takes no options."""
    del args


def run(args: argparse.Namespace, console: Console) -> int:
    """Print the zoo table; 0 if every execution of every family matched, else 1."""
    with console.status("measuring the zoo") as status:
        section = zoo.section(zoo.PAIRS, progress=lambda name: status.update(
            f"measuring the zoo: {name}"))
    print_section(console, section)
    return 0 if section.passed else 1
