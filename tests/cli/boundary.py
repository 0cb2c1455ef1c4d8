"""Boundary entries of prodint.cli: the parser and ``main`` (whose options are fuzzed one by
one in tests/cli/test_fuzz.py).

``main`` runs a HyperCube job of five steps on ``Z_3`` (no output folder), so every call
takes milliseconds; its exit status (``SystemExit`` included) is the result.
"""

from __future__ import annotations

from typing import Any

from prodint.cli import build_parser, main
from prodint.testing.contract import Entry


def _status(a: dict[str, Any]) -> int | str | None:
    try:
        return main(**a)
    except SystemExit as exit_info:
        return exit_info.code


ENTRIES = [
    Entry(("prodint.cli.main",), _status,
          lambda: dict(argv=["hypercube", "--task", "zn", "--n", "3", "--steps", "5",
                             "--restarts", "0"])),
    Entry(("prodint.cli.build_parser",), lambda a: build_parser().prog, dict),
]

EXEMPT = {
    "prodint.cli.COMMANDS": "a constant (the subcommand modules, in the order of --help)",
    "prodint.cli.Command": "a typing Protocol (the interface of a subcommand module), not a "
                           "callable entry point",
}
