"""Reports and result files: titled tables as Markdown and JSON, and the one atomic writer.

A :class:`Section` is a table with a title, a sentence of explanation and whether the checks
it shows passed; :func:`write_report` writes ``report.md`` and ``report.json`` (the same rows,
machine-readable) into a folder and :func:`print_section` shows a section in the terminal.

Every file the application writes goes through :func:`write_atomic` (JSON through
:func:`write_json`): the bytes go to a fresh temporary file beside the target, are flushed to
disk and renamed over it, so a reader (or a run interrupted half way) never sees a partial
file, and two writers never share a temporary name.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = [
    "Section",
    "markdown",
    "print_section",
    "rich_table",
    "write_atomic",
    "write_json",
    "write_report",
]


@dataclass
class Section:
    """One table of a report.

    Attributes:
        title: the heading.
        intro: one or two sentences saying what the rows measure.
        columns: the column headings.
        rows: one list of cells per row (numbers, strings, booleans).
        passed: whether every check the section makes held (sections that only describe
            keep ``True``).
        notes: lines shown under the table (e.g. the error of every failed check).
    """

    title: str
    intro: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    passed: bool = True
    notes: list[str] = field(default_factory=list)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1e}" if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5) \
            else f"{value:.4g}"
    return str(value)


def rich_table(section: Section) -> Table:
    """The section as a rich table for the terminal."""
    table = Table(title=section.title, title_justify="left")
    for col in section.columns:
        table.add_column(escape(col))
    for row in section.rows:
        table.add_row(*(escape(_cell(v)) for v in row))
    return table


def print_section(console: Console, section: Section) -> None:
    """Print the section's table and its notes."""
    console.print(rich_table(section))
    for note in section.notes:
        console.print(escape(note), highlight=False)


def markdown(sections: Sequence[Section], title: str = "prodint report") -> str:
    """The sections as one Markdown document."""
    lines = [f"# {title}", ""]
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
    return "\n".join(lines)


def write_report(sections: Sequence[Section], out: Path) -> Path:
    """Write ``report.md`` and ``report.json`` under ``out``; return the Markdown path."""
    out.mkdir(parents=True, exist_ok=True)
    data = [{"title": s.title, "columns": s.columns, "rows": s.rows, "passed": s.passed,
             "notes": s.notes} for s in sections]
    write_json(out / "report.json", data)
    write_atomic(out / "report.md", markdown(sections))
    return out / "report.md"


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON (values JSON cannot hold are written as strings), atomically."""
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write ``content`` (text as UTF-8) to ``path`` so that no reader sees a partial file.

    The content goes to a uniquely named temporary file in the same folder (created if
    missing), is flushed and fsynced, and replaces ``path`` by one rename; on any failure the
    temporary file is removed and ``path`` is left as it was. The file gets the permissions
    of a plain ``open`` (``0666`` less the umask).
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file private (0600); give it the mode a plain open would.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
