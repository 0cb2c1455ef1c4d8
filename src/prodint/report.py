"""Reports: titled tables written as Markdown and JSON, and shown in the terminal.

A :class:`Section` is a table with a title and a sentence of explanation; :func:`write_report`
writes ``report.md`` and ``report.json`` (the same rows, machine-readable) into a folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table


@dataclass
class Section:
    """One table of a report."""

    title: str
    intro: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


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
    return "\n".join(lines)


def write_report(sections: Sequence[Section], out: Path) -> Path:
    """Write ``report.md`` and ``report.json`` under ``out``; return the Markdown path.

    Each file is written to a temporary name and renamed, so a report is never half written.
    """
    out.mkdir(parents=True, exist_ok=True)
    data = [{"title": s.title, "columns": s.columns, "rows": s.rows} for s in sections]
    files = {out / "report.json": json.dumps(data, indent=2, default=str),
             out / "report.md": markdown(sections)}
    for path, text in files.items():
        write_atomic(path, text)
    return out / "report.md"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary name beside ``path`` and rename it into place, so a
    reader never sees a half-written file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
