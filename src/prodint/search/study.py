"""The Optuna study of a design-space search: its storage, its settings and how it is opened.

A search keeps every trial in one Optuna study, in a database given by a SQLAlchemy URL:
``sqlite:///DIR/study.db`` by default (embedded, one machine, a search resumes after a crash)
or a PostgreSQL server, ``postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB`` (several
machines share one study). The study's user attributes hold the :class:`SearchSettings`
(the space's canonical text and fingerprint, the task, the model and training sizes), so a
process that joins a study trains exactly what the study was created for, and a storage that
holds a study of another space or task is refused before anything is written
(:func:`check_study`).

Trials carry a heartbeat: a process killed while training leaves its trial ``RUNNING``; once
no heartbeat came for ``grace`` seconds, the next worker marks it failed and queues it again
(``optuna.storages.RetryHeartbeatStaleTrialCallback``), so it is trained once more while a
finished trial never is.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.exceptions import ExperimentalWarning
from sqlalchemy.engine import make_url

from prodint.checks import check_choice, check_instance, check_int, check_seed, describe

__all__ = ["SEARCH_TASKS", "SearchSettings", "check_study", "default_storage", "open_storage",
           "open_study", "safe_url"]

#: The tasks a search trains on (real data of :mod:`prodint.data`).
SEARCH_TASKS = ("seq-digits", "copy", "shakespeare")

#: The file of the default SQLite storage under the search's folder.
STUDY_FILE = "study.db"
#: How long a joining process waits for the study's creator to queue the candidates.
QUEUE_WAIT_S = 30.0
MODES = ("exhaustive", "sampled")


@dataclass(frozen=True)
class SearchSettings:
    """What a study searches and how each candidate is trained (all stored in the study).

    Attributes:
        space: the canonical text of the space (``SpaceSpec.text()``).
        fingerprint: its digest (``SpaceSpec.fingerprint()``).
        task: the training task, one of :data:`SEARCH_TASKS`.
        width, depth: the model width and its number of blocks.
        length: the sequence length of the task (the candidates are built for it).
        steps, batch: the optimiser steps and the batch of each trial.
        seed: seeds the sampler, every model and the data order.
        mode: ``"exhaustive"`` (every candidate queued once) or ``"sampled"`` (a sampler
            picks candidates).
    """

    space: str
    fingerprint: str
    task: str
    width: int
    depth: int
    length: int
    steps: int
    batch: int
    seed: int
    mode: str

    def __post_init__(self) -> None:
        for name in ("space", "fingerprint", "task"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name}: expected a str, received "
                                f"{describe(getattr(self, name))}")
        check_choice(self.task, "task", SEARCH_TASKS)
        for name in ("width", "depth", "length", "steps", "batch"):
            check_int(getattr(self, name), name, minimum=1)
        check_seed(self.seed)
        check_choice(self.mode, "mode", MODES)

    def as_attrs(self) -> dict[str, Any]:
        """The settings as the study's user attributes (plain data)."""
        return dataclasses.asdict(self)


def default_storage(out: Path) -> str:
    """The URL of the default SQLite storage of a search writing into ``out``."""
    return f"sqlite:///{(Path(out) / STUDY_FILE).resolve()}"


def safe_url(url: str) -> str:
    """``url`` with its password hidden (for messages and reports)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return url


def _refuse(url: str, reason: object) -> ValueError:
    first = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    return ValueError(f"storage: expected a reachable database URL (sqlite:///FILE or "
                      f"postgresql+psycopg://USER@HOST:PORT/DB), received {safe_url(url)!r} "
                      f"({first})")


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def open_storage(url: str, *, heartbeat: int = 10, create: bool = True
                 ) -> optuna.storages.RDBStorage | None:
    """The Optuna storage at ``url``, with a trial heartbeat every ``heartbeat`` seconds (a
    trial without one for ``2·heartbeat`` seconds is re-queued). With ``create=False`` a
    SQLite file that does not exist (in a folder that does) is not created and ``None``
    comes back.

    Raises:
        TypeError: ``url`` is not a str.
        ValueError: a URL that does not parse, names no known database, or whose database
            cannot be reached (message naming ``storage``).
    """
    if not isinstance(url, str):
        raise TypeError(f"storage: expected a database URL, received {describe(url)}")
    heartbeat = check_int(heartbeat, "heartbeat", minimum=1, maximum=3600)
    try:
        file = _sqlite_file(url)
        backend = make_url(url).get_backend_name()
    except (sqlalchemy.exc.ArgumentError, ValueError) as error:
        raise _refuse(url, error) from None
    if file is not None:
        if not file.parent.is_dir():
            raise _refuse(url, f"the folder {str(file.parent)!r} does not exist")
        if not create and not file.exists():
            return None
    connect = {"timeout": 60} if backend == "sqlite" else {"connect_timeout": 10}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(
                url, engine_kwargs={"connect_args": connect}, heartbeat_interval=heartbeat,
                grace_period=2 * heartbeat,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=3))
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, OSError, ValueError) as error:
            raise _refuse(url, getattr(error, "orig", None) or error) from None


def _mismatch(attrs: dict[str, Any], settings: SearchSettings, name: str, url: str) -> None:
    """Refuse ``settings`` unless they are those the study ``name`` was created with."""
    theirs = {k: attrs.get(k) for k in settings.as_attrs() if k != "mode"}
    for key, value in settings.as_attrs().items():
        if key in ("mode", "fingerprint") or theirs.get(key) == value:
            continue
        argument = "space" if key == "space" else key
        raise ValueError(f"{argument}: expected {theirs.get(key)!r}, the {key} of the study "
                         f"{name!r} in the storage {safe_url(url)!r}, received {value!r} "
                         f"(give another --storage or --study for a new search)")
    if theirs.get("fingerprint") != settings.fingerprint:
        raise ValueError(f"space: expected the space of the study {name!r} "
                         f"(fingerprint {theirs.get('fingerprint')}), received fingerprint "
                         f"{settings.fingerprint}")


def check_study(url: str, name: str, settings: SearchSettings) -> bool:
    """Whether the storage at ``url`` already holds the study ``name``; refuse it (before
    anything is written, a missing SQLite file not created) when that study searches another
    space or task or trains otherwise.

    Raises:
        TypeError: settings that are not :class:`SearchSettings`, a name that is not a str.
        ValueError: the storage cannot be reached (naming ``storage``), the study holds other
            settings (naming the setting: ``space``, ``task``, ``width``...).
    """
    check_instance(settings, "settings", SearchSettings)
    check_instance(name, "name", str)
    storage = open_storage(url, create=False)
    if storage is None:
        return False
    try:
        summaries = optuna.study.get_all_study_summaries(storage, include_best_trial=False)
        found = [s for s in summaries if s.study_name == name]
        if found:
            _mismatch(found[0].user_attrs, settings, name, url)
        return bool(found)
    finally:
        storage.remove_session()
        storage.engine.dispose()


def open_study(url: str, name: str, settings: SearchSettings, *, direction: str,
               sampler: optuna.samplers.BaseSampler | None = None,
               pruner: optuna.pruners.BasePruner | None = None,
               heartbeat: int = 10) -> tuple[optuna.Study, bool]:
    """The study ``name`` at ``url`` (created with ``settings`` as its user attributes when
    missing) and whether this call created it. Creation is atomic in the database: of several
    processes starting at once, exactly one creates the study (and queues the candidates).

    Raises:
        TypeError: settings that are not :class:`SearchSettings`, a name that is not a str.
        ValueError: as :func:`check_study`; a direction other than ``"maximize"`` and
            ``"minimize"``.
    """
    check_instance(settings, "settings", SearchSettings)
    check_instance(name, "name", str)
    check_choice(direction, "direction", ("maximize", "minimize"))
    storage = open_storage(url, heartbeat=heartbeat)
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction=direction,
                                    sampler=sampler, pruner=pruner)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(storage=storage, study_name=name, sampler=sampler,
                                  pruner=pruner)
        _wait(lambda: "fingerprint" in study.user_attrs, QUEUE_WAIT_S)  # its creator's attrs
        _mismatch(study.user_attrs, settings, name, url)
        return study, False
    for key, value in settings.as_attrs().items():
        study.set_user_attr(key, value)
    return study, True


def _wait(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def wait_for_queue(study: optuna.Study, timeout: float = QUEUE_WAIT_S) -> bool:
    """Wait up to ``timeout`` seconds for the study's creator to mark its queue complete
    (the user attribute ``queued``); whether it did."""
    return _wait(lambda: "queued" in study.user_attrs, timeout)
