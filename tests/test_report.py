"""Reports: sections as Markdown and JSON; every file written atomically by one writer."""

import json
import os

import pytest
from rich.console import Console

from prodint import storage
from prodint.report import Section, print_section, write_atomic, write_json, write_report


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path) -> None:
    path = tmp_path / "new" / "data.json"
    write_atomic(path, "first")
    write_atomic(path, b"\x89PNG")
    assert path.read_bytes() == b"\x89PNG"
    write_json(path, {"a": [1, 2.5], "p": tmp_path})
    assert json.loads(path.read_text()) == {"a": [1, 2.5], "p": str(tmp_path)}
    assert [p.name for p in path.parent.iterdir()] == ["data.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.json"
    path.write_text("old")
    fsynced = []
    monkeypatch.setattr(storage.os, "fsync", lambda fd: fsynced.append(fd))

    def no_rename(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", no_rename)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new")
    assert len(fsynced) == 1  # the content was flushed to disk before the rename
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_temporary_names_are_unique(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    real = os.replace

    def spy(src: str, dst: object) -> None:
        seen.append(os.path.basename(src))
        real(src, dst)

    monkeypatch.setattr(storage.os, "replace", spy)
    for _ in range(3):
        write_atomic(tmp_path / "x.json", "{}")
    assert len(set(seen)) == 3 and all(name.startswith(".x.json.") for name in seen)


def test_report_files_hold_rows_verdicts_and_notes(tmp_path) -> None:
    sections = [Section("A table", "What it shows.", ["name", "error"],
                        [["x|y", 1e-12], ["z", 0.5]], passed=False, notes=["z: too large"],
                        plots=["a.png"], command="prodint reproduce --only a"),
                Section("B", "Described.", ["n"], [[True]])]
    md_path = write_report(sections, tmp_path)
    assert md_path == tmp_path / "report.md"
    data = json.loads((tmp_path / "report.json").read_text())
    assert data == [{"title": "A table", "columns": ["name", "error"],
                     "rows": [["x|y", 1e-12], ["z", 0.5]], "passed": False,
                     "notes": ["z: too large"], "plots": ["a.png"],
                     "command": "prodint reproduce --only a"},
                    {"title": "B", "columns": ["n"], "rows": [[True]], "passed": True,
                     "notes": [], "plots": [], "command": None}]
    text = md_path.read_text()
    assert "| x\\|y | 1.0e-12 |" in text and "| z | 0.5 |" in text and "| yes |" in text
    assert "- z: too large" in text
    assert "![A table](a.png)" in text and "Rerun alone: `prodint reproduce --only a`" in text
    console = Console(record=True, width=100)
    print_section(console, sections[0])
    shown = console.export_text()
    assert "A table" in shown and "z: too large" in shown


def test_output_paths_are_checked_before_anything_is_written(tmp_path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match=r"^path: expected a file, received the folder"):
        storage.check_output_file(tmp_path)
    with pytest.raises(ValueError, match=r"^path: expected a path whose folder can be "
                                         r"created, .*/a_file' is a file\)$"):
        storage.check_output_file(a_file / "out.json")
    with pytest.raises(ValueError, match=r"^path: expected a regular file"):
        storage.check_output_file(type(tmp_path)("/dev/null"))
    with pytest.raises(TypeError, match=r"^path: expected a pathlib.Path, received str"):
        write_atomic("data.json", "{}")  # type: ignore[arg-type]
    (tmp_path / "out" / "report.md").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"^out: expected a folder where report.md can be "
                                         r"written"):
        write_report([Section("T", "i", ["a"])], tmp_path / "out")
    assert storage.check_output_folder(tmp_path / "new" / "deeper", files=["x"]).name == "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_bad_sections_and_data_are_refused_by_name(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"^rows: expected 2 cells per row \(one per entry of "
                                         r"columns\), received 1 at row 0$"):
        Section("T", "i", ["a", "b"], [[1]])
    with pytest.raises(TypeError, match=r"^passed: expected a bool"):
        Section("T", "i", ["a"], passed=1)  # type: ignore[arg-type]
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"^data: expected data JSON can hold"):
        write_json(tmp_path / "x.json", loop)
    assert list(tmp_path.iterdir()) == []
