"""Files written so that no reader ever sees a partial one: the atomic writer and the checks
of where a file or a folder will go.

:func:`write_atomic` writes the bytes to a fresh temporary file beside the target, flushes
them to disk and renames it over the target, so a reader (or a run interrupted half way, a
process killed while writing, a full disk) never sees a partial file, and two writers never
share a temporary name. :func:`check_output_file` and :func:`check_output_folder` refuse an
unwritable destination before a long run starts. The library (checkpoints, metrics) and the
application (reports, plots) write through here.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["check_output_file", "check_output_folder", "write_atomic"]


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
