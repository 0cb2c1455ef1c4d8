"""``prodint catalogue``: the algebra catalogue with every defining identity checked."""

from __future__ import annotations

import argparse

from rich.console import Console

from prodint.report import print_section
from prodint.surveys import algebra

__all__ = ["add_parser", "check", "run"]

DESCRIPTION = """\
Print every algebra of the catalogue with its dimension, number of nonzero structure
constants, chosen multiplication kernel and properties (unit, commutative, associative,
alternative), and the residual of its defining identity checked in float64 against an
independent computation. Exit status 0 when every identity holds to 1e-10."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prodint catalogue``."""
    return subparsers.add_parser(
        "catalogue", help="print the algebra catalogue with verified identities",
        description=DESCRIPTION)


def check(args: argparse.Namespace) -> None:
    """Nothing to refuse: the command takes no options."""
    del args


def run(args: argparse.Namespace, console: Console) -> int:
    """Print the catalogue; 0 if every identity holds, else 1."""
    section = algebra.section()
    print_section(console, section)
    return 0 if section.passed else 1
