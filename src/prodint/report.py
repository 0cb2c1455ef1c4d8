"""Reports and result files: titled tables as Markdown and JSON, written atomically.

A :class:`Section` is a table with a title, a sentence of explanation and whether the checks
it shows passed; :func:`write_report` writes ``report.md`` and ``report.json`` (the same rows,
machine-readable) into a folder and :func:`print_section` shows a section in the terminal.

Every file the application writes goes through the one atomic writer of
:mod:`prodint.storage`, re-exported here (:func:`write_atomic`; JSON through
:func:`write_json`): the bytes go to a fresh temporary file beside the target, are flushed to
disk and renamed over it, so a reader (or a run interrupted half way, or a full disk) never
sees a partial file, and two writers never share a temporary name. Where a file will go is
checked before anything is written (:func:`check_output_file`, :func:`check_output_folder`),
so that a command can refuse an unwritable output before it starts a long run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from prodint.checks import check_bool
from prodint.storage import check_output_file, check_output_folder, write_atomic

__all__ = [
    "Section",
    "check_output_file",
    "check_output_folder",
    "markdown",
    "print_section",
    "rich_table",
    "write_atomic",
    "write_json",
    "write_report",
]


def _strings(value: object, argument: str) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{argument}: expected a list of str, received "
                        f"{type(value).__name__} {value!r:.60}")
    return list(value)


def _text(value: object, argument: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{argument}: expected a str, received {type(value).__name__} "
                        f"{value!r:.60}")
    return value


@dataclass
class Section:
    """One table of a report.

    Attributes:
        title: the heading.
        intro: one or two sentences saying what the rows measure.
        columns: the column headings.
        rows: one list of cells per row (numbers, strings, booleans), as many as columns.
        passed: whether every check the section makes held (sections that only describe
            keep ``True``).
        notes: lines shown under the table (e.g. the error of every failed check).
        plots: PNG files shown under the table (names relative to the report's folder).
        command: the command that reruns the section alone, shown under it.

    Raises:
        TypeError: a field of the wrong kind (a title that is not a str, a row that is not a
            list).
        ValueError: a row whose length is not the number of columns.
    """

    title: str
    intro: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    passed: bool = True
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    command: str | None = None

    def __post_init__(self) -> None:
        _text(self.title, "title")
        _text(self.intro, "intro")
        _strings(self.columns, "columns")
        _strings(self.notes, "notes")
        _strings(self.plots, "plots")
        if self.command is not None:
            _text(self.command, "command")
        check_bool(self.passed, "passed")
        if not isinstance(self.rows, list | tuple):
            raise TypeError(f"rows: expected a list of rows, received "
                            f"{type(self.rows).__name__} {self.rows!r:.60}")
        for i, row in enumerate(self.rows):
            if not isinstance(row, list | tuple):
                raise TypeError(f"rows: expected a list of rows (lists of cells), received "
                                f"{type(row).__name__} {row!r:.60} at row {i}")
            if len(row) != len(self.columns):
                raise ValueError(f"rows: expected {len(self.columns)} cells per row (one per "
                                 f"entry of columns), received {len(row)} at row {i}")


def _section(value: object, argument: str) -> Section:
    if not isinstance(value, Section):
        raise TypeError(f"{argument}: expected a Section, received {type(value).__name__} "
                        f"{value!r:.60}")
    return value


def _sections(value: object, argument: str) -> list[Section]:
    if not isinstance(value, list | tuple):
        raise TypeError(f"{argument}: expected a list of Section, received "
                        f"{type(value).__name__} {value!r:.60}")
    return [_section(s, argument) for s in value]


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1e}" if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5) \
            else f"{value:.4g}"
    return str(value)


def rich_table(section: Section) -> Table:
    """The section as a rich table for the terminal.

    Raises:
        TypeError: ``section`` is not a :class:`Section`.
    """
    _section(section, "section")
    table = Table(title=section.title, title_justify="left")
    for col in section.columns:
        table.add_column(escape(col))
    for row in section.rows:
        table.add_row(*(escape(_cell(v)) for v in row))
    return table


def print_section(console: Console, section: Section) -> None:
    """Print the section's table and its notes.

    Raises:
        TypeError: ``console`` is not a rich ``Console``, ``section`` not a :class:`Section`.
    """
    if not isinstance(console, Console):
        raise TypeError(f"console: expected a rich.console.Console, received "
                        f"{type(console).__name__} {console!r:.60}")
    console.print(rich_table(section))
    for note in section.notes:
        console.print(escape(note), highlight=False)


def markdown(sections: Sequence[Section], title: str = "prodint report") -> str:
    """The sections as one Markdown document.

    Raises:
        TypeError: ``sections`` is not a list of :class:`Section`, ``title`` not a str.
    """
    sections = _sections(sections, "sections")
    lines = [f"# {_text(title, 'title')}", ""]
    for s in sections:
        lines += [f"## {s.title}", "", s.intro, "",
                  "| " + " | ".join(s.columns) + " |",
                  "|" + "---|" * len(s.columns)]
        for row in s.rows:
            cells = [_cell(v).replace("|", "\\|") for v in row]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        if s.notes:
            lines += [*(f"- {note}" for note in s.notes), ""]
        lines += [line for plot in s.plots for line in (f"![{s.title}]({plot})", "")]
        if s.command is not None:
            lines += [f"Rerun alone: `{s.command}`", ""]
    return "\n".join(lines)


def write_report(sections: Sequence[Section], out: Path) -> Path:
    """Write ``report.md`` and ``report.json`` under ``out``; return the Markdown path.

    Raises:
        TypeError: ``sections`` is not a list of :class:`Section`, ``out`` not a path.
        ValueError: ``out`` cannot be a folder (:func:`check_output_folder`).
        OSError: a file cannot be written (the old one, if any, is left as it was).
    """
    sections = _sections(sections, "sections")
    folder = check_output_folder(out, "out", ("report.md", "report.json"))
    data = [{"title": s.title, "columns": s.columns, "rows": s.rows, "passed": s.passed,
             "notes": s.notes, "plots": s.plots, "command": s.command} for s in sections]
    text = markdown(sections)
    write_json(folder / "report.json", data)
    write_atomic(folder / "report.md", text)
    return folder / "report.md"


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON (values JSON cannot hold are written as strings), atomically.

    Raises:
        TypeError: ``path`` is not a ``pathlib.Path``.
        ValueError: ``data`` cannot be written as JSON (a circular reference), or ``path``
            cannot be written (:func:`check_output_file`).
        OSError: the file cannot be written.
    """
    target = check_output_file(path)
    try:
        text = json.dumps(data, indent=2, default=str) + "\n"
    except (ValueError, TypeError, RecursionError) as error:
        raise ValueError(f"data: expected data JSON can hold, received "
                         f"{type(data).__name__} ({error})") from None
    write_atomic(target, text)
