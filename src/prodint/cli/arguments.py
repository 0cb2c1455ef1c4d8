"""What every subcommand shares: the parser class, option types, ``--out DIR``, bad input.

- :class:`Parser`: an ``argparse`` parser whose errors are one line on stderr with exit
  status 2 (no usage dump); subcommand parsers inherit it.
- Option types refuse a bad value while the command line is parsed, before any work, with
  the message of :mod:`prodint.checks` (``argument --steps: expected ..., received ...``):
  :func:`count` (:data:`positive_int`, :data:`non_negative_int`), :data:`seed`,
  :data:`fraction`, :data:`device`, and the paths
  :data:`writable_dir`, :data:`writable_file`, :data:`readable_file` (an output is checked
  where it will go before the run, not when the run is over).
- :func:`add_out`: the one ``--out DIR`` option of every command that writes files, and
  :func:`check_out`: the files a command will write there checked before its run.
- :func:`fail`: the one-line report of input refused after parsing (a table file that does
  not parse, a configuration a model refuses, a full disk), returning exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import torch

from prodint.checks import check_float, check_int
from prodint.report import check_output_file, check_output_folder

__all__ = [
    "BAD_INPUT",
    "MAX_COUNT",
    "SEED_MAX",
    "USER_ERRORS",
    "Parser",
    "add_out",
    "check_out",
    "count",
    "device",
    "fail",
    "fraction",
    "non_negative_int",
    "positive_int",
    "readable_file",
    "seed",
    "writable_dir",
    "writable_file",
]

#: Exit status for input the command refuses (as ``argparse`` uses for bad options).
BAD_INPUT = 2
#: The largest count an option takes (sizes, steps): larger values are refused at once,
#: smaller ones are sized by the library before any allocation.
MAX_COUNT = 2**31 - 1
#: The largest seed an option takes.
SEED_MAX = 2**63 - 1
#: The exceptions that report bad input (or an environment that refuses it: a full disk, a
#: missing file) rather than a bug: one line and exit status 2, not a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, OSError)

T = TypeVar("T")


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
        message = " ".join(message.split())
        self.exit(BAD_INPUT, f"{self.prog}: error: {message}\n")


def _option(check: Callable[[str], T], name: str) -> Callable[[str], T]:
    """An option type from ``check(text)``, which raises the ``prodint.checks`` errors with the
    argument ``"value"``: argparse shows them after ``argument --option:``."""

    def parse(text: str) -> T:
        try:
            return check(text)
        except (ValueError, TypeError) as error:
            message = str(error).removeprefix("value: ")
            raise argparse.ArgumentTypeError(message) from None

    parse.__name__ = name
    return parse


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"value: expected an int, received {text!r}") from None


def count(minimum: int, maximum: int = MAX_COUNT) -> Callable[[str], int]:
    """The option type of ints in ``[minimum, maximum]``."""
    return _option(lambda text: check_int(_integer(text), "value", minimum=minimum,
                                          maximum=maximum), f"int >= {minimum}")


#: An int in ``[1, MAX_COUNT]``.
positive_int = count(1)
#: An int in ``[0, MAX_COUNT]``.
non_negative_int = count(0)
#: A seed: an int in ``[0, SEED_MAX]``.
seed = _option(lambda text: check_int(_integer(text), "value", minimum=0, maximum=SEED_MAX),
               "seed")


def _real(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"value: expected a number, received {text!r}") from None


#: A number in ``(0, 1]``.
fraction = _option(lambda text: check_float(_real(text), "value", minimum=0.0, maximum=1.0,
                                            strict_minimum=True), "fraction")


def _device(text: str) -> str:
    try:
        where = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"value: expected a device name (cpu, cuda, cuda:N), received "
                         f"{text!r}") from None
    if where.type not in ("cpu", "cuda"):
        raise ValueError(f"value: expected a device name (cpu, cuda, cuda:N), received {text!r}")
    if where.type == "cuda":
        present = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (where.index or 0) >= present:
            raise ValueError(f"value: expected a device this machine has ({present} CUDA "
                             f"devices), received {text!r}")
    return text


#: A device this machine has: ``cpu``, ``cuda`` or ``cuda:N``.
device = _option(_device, "device")


def _nonempty(text: str) -> Path:
    if not text.strip():
        raise ValueError(f"value: expected a path, received {text!r}")
    return Path(text)


#: A folder to write into: an existing writable folder, or one that can be created (not a
#: file, not under a file). Nothing is created while parsing.
writable_dir = _option(lambda text: check_output_folder(_nonempty(text), "value"), "folder")
#: A file to write: missing or a regular file, in a folder that exists or can be created.
writable_file = _option(lambda text: check_output_file(_nonempty(text), "value"), "file")


def _readable(text: str) -> Path:
    path = _nonempty(text)
    if not path.exists():
        raise ValueError(f"value: expected an existing file, received {text!r}")
    if not path.is_file():
        raise ValueError(f"value: expected a regular file, received {text!r}")
    if not os.access(path, os.R_OK):
        raise ValueError(f"value: expected a readable file, received {text!r}")
    return path


#: An existing, readable regular file.
readable_file = _option(_readable, "file")


def add_out(parser: argparse.ArgumentParser, files: str, default: Path | None = None) -> None:
    """Add ``--out DIR``: the folder that receives ``files`` (a phrase naming them).

    With ``default=None`` the command writes nothing unless ``--out`` is given.
    """
    when = f"default: {default}" if default is not None else "default: write nothing"
    parser.add_argument("--out", type=writable_dir, default=default, metavar="DIR",
                        help=f"folder for {files} ({when})")


def check_out(args: argparse.Namespace, files: tuple[str, ...]) -> None:
    """Refuse ``--out`` (``ValueError`` naming it) unless each of ``files`` can be written
    there; nothing is created. No ``--out``: nothing to check."""
    if args.out is not None:
        check_output_folder(args.out, "--out", files)


def fail(args: argparse.Namespace, error: BaseException | str) -> int:
    """Print ``prodint COMMAND: error: MESSAGE`` (one line, stderr); return :data:`BAD_INPUT`."""
    message = " ".join(str(error).split()) or type(error).__name__
    print(f"prodint {args.command}: error: {message}", file=sys.stderr)
    return BAD_INPUT

