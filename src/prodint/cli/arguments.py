"""What every subcommand shares: the parser class, option types, ``--out DIR``, bad input.

- :class:`Parser`: an ``argparse`` parser whose errors are one line on stderr with exit
  status 2 (no usage dump); subcommand parsers inherit it.
- Option types (:func:`positive_int`, :func:`non_negative_int`, :func:`fraction`,
  :func:`output_folder`) refuse a bad value while the command line is parsed, before any work.
- :func:`add_out`: the one ``--out DIR`` option of every command that writes files.
- :func:`fail`: the one-line report of input refused later (a table file that does not
  parse, a configuration a model refuses), returning exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

__all__ = [
    "BAD_INPUT",
    "Parser",
    "add_out",
    "fail",
    "fraction",
    "non_negative_int",
    "output_folder",
    "positive_int",
]

#: Exit status for input the command refuses (as ``argparse`` uses for bad options).
BAD_INPUT = 2


class _Paragraphs(argparse.HelpFormatter):
    """Descriptions refilled to the terminal width paragraph by paragraph (blank lines kept);
    argparse's default would run the paragraphs together."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
        return "\n\n".join(textwrap.fill(p, width, initial_indent=indent,
                                          subsequent_indent=indent) for p in paragraphs)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that reports bad options in one line and exits with status 2.

    Descriptions are plain text, refilled to the terminal width with their paragraphs kept.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Paragraphs)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(BAD_INPUT, f"{self.prog}: error: {message}\n")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """The option type of integers ``>= minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, received {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, received "
                                             f"{value}")
        return value

    return parse


#: An integer ``>= 1``.
positive_int = _int_at_least(1)
#: An integer ``>= 0``.
non_negative_int = _int_at_least(0)


def fraction(text: str) -> float:
    """A number in ``(0, 1]``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], received "
                                         f"{text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], received {value}")
    return value


def output_folder(text: str) -> Path:
    """A folder to write into: missing (it is created) or an existing folder, not a file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a folder, received the file {text!r}")
    return path


def add_out(parser: argparse.ArgumentParser, files: str, default: Path | None = None) -> None:
    """Add ``--out DIR``: the folder that receives ``files`` (a phrase naming them).

    With ``default=None`` the command writes nothing unless ``--out`` is given.
    """
    when = f"default: {default}" if default is not None else "default: write nothing"
    parser.add_argument("--out", type=output_folder, default=default, metavar="DIR",
                        help=f"folder for {files} ({when})")


def fail(args: argparse.Namespace, error: BaseException | str) -> int:
    """Print ``prodint COMMAND: error: MESSAGE`` (one line, stderr); return :data:`BAD_INPUT`."""
    message = " ".join(str(error).split())
    print(f"prodint {args.command}: error: {message}", file=sys.stderr)
    return BAD_INPUT
