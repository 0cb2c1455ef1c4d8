"""The ``prodint`` command line (application layer), one module per subcommand.

Registration protocol: a subcommand is a module of this package (a :class:`Command`) with

- ``add_parser(subparsers) -> argparse.ArgumentParser``: adds its parser to the
  subparsers of the ``prodint`` parser (its name, a one-line ``help``, a plain-text
  ``description`` written for the terminal, its options, each with a type from
  :mod:`prodint.cli.arguments` that refuses a bad value while parsing) and returns it;
- ``check(args) -> None``: refuses what parsing cannot see, before any work: the files the
  command will write under ``--out``, a table file, a configuration the library refuses, a
  size that would not fit in memory (raising ``ValueError``, ``TypeError`` or ``OSError``);
  it may keep on ``args`` what it loaded for the run (a corpus);
- ``run(args, console) -> int``: runs it on the checked arguments, printing through the rich
  ``console``, and returns the exit status: 0 when done and every check it makes passed,
  1 when a check failed, 2 for bad input.

:data:`COMMANDS` lists the subcommands in the order ``prodint --help`` shows them and
:func:`main` registers every one the same way. The conventions they share live in
:mod:`prodint.cli.arguments`: a command that writes files takes ``--out DIR`` and writes every
file atomically (:func:`prodint.report.write_atomic`); help text is plain (no markup); bad
input is refused in one line on stderr with exit status 2, never with a traceback (option
values while parsing; what ``check`` refuses; and a ``ValueError``, ``TypeError`` or
``OSError`` the library or the disk raises during the run, :data:`USER_ERRORS`). Any other
exception is a bug and keeps its traceback. ``python -m prodint`` is the same command as
``prodint``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Protocol

from rich.console import Console

from prodint.cli import (
    bench,
    catalogue,
    demo,
    hypercube,
    reproduce,
    search,
    shakespeare,
    sparsity,
    symmetry,
    train,
    zoo,
)
from prodint.cli.arguments import USER_ERRORS, Parser, fail

__all__ = ["COMMANDS", "Command", "build_parser", "main"]

DESCRIPTION = """\
prodint builds neural-network layers from algebra: every layer is a product interaction
(a bilinear product given by structure constants, composed with linear maps and pointwise
functions), ordered by how many times the input enters multiplicatively.

Run "prodint COMMAND --help" for the options of a command."""


class Command(Protocol):
    """A subcommand module (see the module doc)."""

    def add_parser(self, subparsers: argparse._SubParsersAction
                   ) -> argparse.ArgumentParser: ...

    def check(self, args: argparse.Namespace) -> None: ...

    def run(self, args: argparse.Namespace, console: Console) -> int: ...


COMMANDS: tuple[Command, ...] = (demo, reproduce, catalogue, zoo, train, search, shakespeare,
                                 symmetry, hypercube, sparsity, bench)


def build_parser() -> argparse.ArgumentParser:
    """The ``prodint`` parser with every subcommand of :data:`COMMANDS` registered."""
    parser = Parser(prog="prodint", description=DESCRIPTION)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers).set_defaults(check=command.check, run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments), check and run the subcommand, return
    its status.

    Bad options exit (``SystemExit``) with status 2 while parsing; input the subcommand's
    ``check`` refuses, and a :data:`~prodint.cli.arguments.USER_ERRORS` exception from the
    run, are printed as one line (``prodint COMMAND: error: MESSAGE``) and return 2.

    Raises:
        TypeError: ``argv`` is not ``None`` or a list of str.
        SystemExit: for ``--help`` (status 0) and for bad options (status 2).
    """
    if argv is not None and (not isinstance(argv, list | tuple)
                             or not all(isinstance(a, str) for a in argv)):
        raise TypeError(f"argv: expected a list of str, received {type(argv).__name__} "
                        f"{argv!r:.60}")
    args = build_parser().parse_args(None if argv is None else list(argv))
    # Reports are often piped to a file: keep rows on one line there.
    console = Console(width=None if sys.stdout.isatty() else 200)
    try:
        args.check(args)
        return args.run(args, console)
    except USER_ERRORS as error:
        return fail(args, error)
