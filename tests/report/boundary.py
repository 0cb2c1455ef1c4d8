"""Boundary entries of prodint.report: sections, Markdown, the terminal table, the writers.

Files go to a temporary folder of this module; every call writes a few bytes.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from prodint.report import (
    Section,
    check_output_file,
    check_output_folder,
    markdown,
    print_section,
    rich_table,
    write_atomic,
    write_json,
    write_report,
)
from prodint.testing.contract import Entry

_FOLDER = tempfile.TemporaryDirectory(prefix="prodint-report-boundary-")
_ROOT = Path(_FOLDER.name)
_TEXT = frozenset({"title", "intro"})


def _section_arguments() -> dict[str, Any]:
    return dict(title="A table", intro="What it shows.", columns=["name", "error"],
                rows=[["x", 1e-12], ["y", 0.5]], passed=False, notes=["y: too large"])


def _section() -> Section:
    return Section(**_section_arguments())


def _console() -> Console:
    return Console(file=io.StringIO(), width=100)


def _print(a: dict[str, Any]) -> str:
    console = a["console"]
    print_section(console, a["section"])
    return console.file.getvalue()


ENTRIES = [
    Entry(("prodint.report.Section",), lambda a: markdown([Section(**a)]),
          _section_arguments, free_text=_TEXT),
    Entry(("prodint.report.markdown",), lambda a: markdown(**a),
          lambda: dict(sections=[_section(), _section()], title="Report"),
          free_text=frozenset({"title"})),
    Entry(("prodint.report.rich_table",), lambda a: rich_table(**a).row_count,
          lambda: dict(section=_section())),
    Entry(("prodint.report.print_section",), _print,
          lambda: dict(console=_console(), section=_section())),
    Entry(("prodint.report.write_atomic", "prodint.storage.write_atomic"),
          lambda a: write_atomic(**a),
          lambda: dict(path=_ROOT / "atomic" / "data.txt", content="first line\n"),
          free_text=frozenset({"content"})),
    # Any JSON value is valid data (a str, an int, None): no mutation of it is refused.
    Entry(("prodint.report.write_json",), lambda a: write_json(**a),
          lambda: dict(path=_ROOT / "json" / "data.json", data={"a": [1, 2.5]}),
          fixed=frozenset({"data"})),
    Entry(("prodint.report.write_report",), lambda a: write_report(**a).name,
          lambda: dict(sections=[_section()], out=_ROOT / "report")),
    Entry(("prodint.report.check_output_file", "prodint.storage.check_output_file"),
          lambda a: check_output_file(**a).name,
          lambda: dict(path=_ROOT / "new" / "file.json")),
    Entry(("prodint.report.check_output_folder",
           "prodint.storage.check_output_folder"), lambda a: check_output_folder(**a).name,
          lambda: dict(path=_ROOT / "folder", files=["a.json", "b.png"])),
]

EXEMPT: dict[str, str] = {}
