"""Reports and result files: titled tables as Markdown and JSON, and the one atomic writer.

A :class:`Section` is a table with a title, a sentence of explanation and whether the checks
it shows passed; :func:`write_report` writes ``report.md`` and ``report.json`` (the same rows,
machine-readable) into a folder and :func:`print_section` shows a section in the terminal.

Every file the application writes goes through :func:`write_atomic` (JSON through
:func:`write_json`): the bytes go to a fresh temporary file beside the target, are flushed to
disk and renamed over it, so a reader (or a run interrupted half way, or a full disk) never
sees a partial file, and two writers never share a temporary name. Where a file will go is
checked before anything is written (:func:`check_output_file`, :func:`check_output_folder`),
so that a command can refuse an unwritable output before it starts a long run.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from prodint.checks import check_bool

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


def _path(value: object, argument: str) -> Path:
    """``value`` (a ``pathlib.Path`` or other ``os.PathLike``; a bare str is refused, so that
    a stray str is never taken for a file name) as a ``Path``."""
    if not isinstance(value, os.PathLike):
        raise TypeError(f"{argument}: expected a pathlib.Path, received "
                        f"{type(value).__name__} {value!r:.60}")
    path = Path(value)
    if not str(path) or path == Path():
        raise ValueError(f"{argument}: expected a path, received {str(value)!r}")
    return path


def _creatable(folder: Path, argument: str, shown: str) -> None:
    """Refuse ``folder`` unless it is a writable folder or can be created: its nearest
    existing ancestor must be a writable folder."""
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{argument}: expected a path whose folder can be created, received "
                         f"{shown} (but {str(ancestor)!r} is a file)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{argument}: expected a path in a writable folder, received {shown} "
                         f"({str(ancestor)!r} is not writable)")


def check_output_file(path: object, argument: str = "path") -> Path:
    """``path`` as a file that :func:`write_atomic` can write: missing or a regular file (not
    a folder, not a device), in a folder that exists or can be created, writable. Nothing is
    created.

    Raises:
        TypeError: ``path`` is not a ``pathlib.Path``.
        ValueError: ``path`` is empty, a folder, not a regular file, or under a file or an
            unwritable folder.
    """
    target = _path(path, argument)
    shown = repr(str(target))
    if target.is_dir():
        raise ValueError(f"{argument}: expected a file, received the folder {shown}")
    if target.exists() and not target.is_file():
        raise ValueError(f"{argument}: expected a regular file, received {shown}")
    if target.exists() and not os.access(target.parent, os.W_OK | os.X_OK):
        raise ValueError(f"{argument}: expected a file in a writable folder, received {shown}")
    _creatable(target.parent, argument, shown)
    return target


def check_output_folder(path: object, argument: str = "path",
                        files: Sequence[str] = ()) -> Path:
    """``path`` as a folder to write ``files`` (names) into: an existing writable folder, or
    one that can be created; each of ``files`` in it missing or a regular file. Nothing is
    created.

    Raises:
        TypeError: ``path`` is not a ``pathlib.Path``, ``files`` not a list of str.
        ValueError: ``path`` is empty, a file, under a file or not writable, or one of
            ``files`` in it is a folder.
    """
    files = _strings(files, "files")
    folder = _path(path, argument)
    shown = repr(str(folder))
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{argument}: expected a folder, received the file {shown}")
    _creatable(folder, argument, shown)
    for name in files:
        target = folder / name
        if target.exists() and not target.is_file():
            raise ValueError(f"{argument}: expected a folder where {name} can be written, "
                             f"received {shown}, whose {name} is not a regular file")
    return folder


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

    def __post_init__(self) -> None:
        _text(self.title, "title")
        _text(self.intro, "intro")
        _strings(self.columns, "columns")
        _strings(self.notes, "notes")
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
             "notes": s.notes} for s in sections]
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


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process's umask (read by setting and restoring it, so under a lock: two threads
    doing so at once could leave the umask at 0)."""
    with _UMASK_LOCK:
        mask = os.umask(0)
        os.umask(mask)
    return mask


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write ``content`` (text as UTF-8) to ``path`` so that no reader sees a partial file.

    The content goes to a uniquely named temporary file in the same folder (created if
    missing), is flushed and fsynced, and replaces ``path`` by one rename; on any failure the
    temporary file is removed and ``path`` is left as it was. The file gets the permissions
    of a plain ``open`` (``0666`` less the umask).

    Raises:
        TypeError: ``path`` is not a ``pathlib.Path``; ``content`` is not a str or bytes.
        ValueError: ``path`` cannot be written (:func:`check_output_file`).
        OSError: writing failed (a full disk): the temporary file is removed.
    """
    target = check_output_file(path)
    if not isinstance(content, str | bytes | bytearray):
        raise TypeError(f"content: expected a str or bytes, received "
                        f"{type(content).__name__} {content!r:.60}")
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            # mkstemp creates the file private (0600); give it the mode a plain open would.
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
