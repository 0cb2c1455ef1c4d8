"""Timing and memory measurement for the benchmark suites.

A case is a pair of callables built by a suite: ``forward()`` returns a tensor and
``forward_backward()`` runs forward and backward. :func:`timed_case` builds both from one
call (the forward under ``no_grad``; forward+backward clearing the gradients of the given
leaves first), the one way every suite times a computation. Times are medians over repeats
after warm-up; ratios are always against a baseline case measured in the same run, so they
carry over between machines better than absolute times.

Every public function and record checks its arguments (:mod:`prodint.bench.checks`, on
:mod:`prodint.checks`): repeat counts are ints in ``[0, MAX_REPEATS]`` (at least 1 where a
median needs a time), times are finite and non-negative, callables are callable.

Peak memory is the largest amount of tensor memory alive at once during one forward+backward
call beyond what existed before it: ``torch.cuda.max_memory_allocated`` on a GPU, and on the
CPU the running sum of allocations and frees recorded by ``torch.profiler`` with
``profile_memory=True``.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import torch
from torch import Tensor
from torch.profiler import ProfilerActivity, profile

from prodint.bench.checks import MAX_REPEATS, check_repeats, check_time
from prodint.checks import check_bool, check_callable, check_instance, check_int
from prodint.report import check_output_file, write_atomic


@dataclass
class Case:
    """One implementation of one benchmark problem.

    Attributes:
        name: the problem (e.g. ``"R[C512] batch=256"``); cases sharing it are compared.
        impl: the implementation measured (e.g. ``"fft"``).
        params: problem parameters recorded with the result.
        forward: runs the forward pass and returns its output.
        forward_backward: runs forward and backward (``None`` when there is nothing to
            differentiate).
        baseline: the ``impl`` of the case that ratios are taken against.
    """

    name: str
    impl: str
    params: dict[str, Any]
    forward: Callable[[], Any]
    forward_backward: Callable[[], Any] | None
    baseline: str

    def __post_init__(self) -> None:
        """Raises ``TypeError`` for a field of the wrong kind."""
        for name in ("name", "impl", "baseline"):
            check_instance(getattr(self, name), name, str)
        check_instance(self.params, "params", dict)
        check_callable(self.forward, "forward")
        check_callable(self.forward_backward, "forward_backward", optional=True)


@dataclass
class Record:
    """One JSON line of results."""

    suite: str
    name: str
    impl: str
    params: dict[str, Any]
    fwd_ms: float
    fwd_bwd_ms: float | None
    peak_mem_mb: float | None
    baseline: str
    ratio_fwd: float | None = None
    ratio_fwd_bwd: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Raises ``TypeError`` for a field of the wrong kind, ``ValueError`` for a time,
        memory or ratio that is negative or not finite."""
        for name in ("suite", "name", "impl", "baseline"):
            check_instance(getattr(self, name), name, str)
        check_instance(self.params, "params", dict)
        check_instance(self.extra, "extra", dict)
        check_time(self.fwd_ms, "fwd_ms")
        for name in ("fwd_bwd_ms", "peak_mem_mb", "ratio_fwd", "ratio_fwd_bwd"):
            check_time(getattr(self, name), name, optional=True)


def main_output(out: Any) -> Any:
    """The main tensor of a call's result: the first element of ``(output, state)``,
    ``(output, weights)`` and nested tuples; anything else as it is."""
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


def timed_case(name: str, impl: str, params: dict[str, Any], fn: Callable[[], Any],
               leaves: Sequence[Tensor] | None, baseline: str) -> Case:
    """A :class:`Case` timing ``fn()``.

    ``forward`` calls ``fn`` under ``torch.no_grad`` and returns its main output
    (:func:`main_output`); ``forward_backward`` sets the ``.grad`` of every tensor of
    ``leaves`` (the inputs and parameters that receive gradients) to ``None``, then
    back-propagates the sum of the main output. ``leaves=None``: forward only.

    Raises:
        TypeError: a name that is not a str, ``params`` not a dict, ``fn`` not callable,
            ``leaves`` not ``None`` or a list of tensors.
    """
    if leaves is not None and (not isinstance(leaves, list | tuple)
                               or not all(isinstance(t, Tensor) for t in leaves)):
        raise TypeError(f"leaves: expected None or a list of tensors, received "
                        f"{type(leaves).__name__} {leaves!r:.60}")
    check_callable(fn, "fn")

    def forward() -> Any:
        with torch.no_grad():
            return main_output(fn())

    def forward_backward() -> None:
        for t in leaves or ():
            t.grad = None
        main_output(fn()).sum().backward()

    return Case(name, impl, params, forward, None if leaves is None else forward_backward,
                baseline)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def median_ms(fn: Callable[[], Any], *, warmup: int = 2, min_repeats: int = 5,
              min_seconds: float = 0.2, max_repeats: int = 200) -> float:
    """Median wall time of ``fn`` in milliseconds after ``warmup`` calls.

    Repeats at least ``min_repeats`` times and until ``min_seconds`` have been spent (at most
    ``max_repeats`` times).

    Raises:
        TypeError: ``fn`` is not callable, a count not an int, ``min_seconds`` not a number.
        ValueError: a count outside ``[0, MAX_REPEATS]`` (``min_repeats`` in
            ``[1, max_repeats]``), ``min_seconds`` negative, above an hour or not finite.
    """
    check_callable(fn, "fn")
    check_repeats(warmup, min_repeats, min_seconds, max_repeats)
    for _ in range(warmup):
        fn()
    _sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_repeats and (
        len(times) < min_repeats or time.perf_counter() - start < min_seconds
    ):
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the profiler's start/stop lines, which its C++ side writes to fd 2."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_memory_mb(fn: Callable[[], Any]) -> float:
    """Peak tensor memory in MiB allocated during one call of ``fn`` (see module doc).

    Raises:
        TypeError: ``fn`` is not callable.
    """
    check_callable(fn, "fn")
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # Allocations are attributed to the op that made them; frees outside any op appear as
    # "[memory]" events. Walking both in time order gives the live total.
    deltas = []
    for event in prof.events():
        if event.name == "[memory]":
            deltas.append((event.time_range.start, event.cpu_memory_usage))
        elif event.self_cpu_memory_usage:
            deltas.append((event.time_range.start, event.self_cpu_memory_usage))
    live = peak = 0
    for _, delta in sorted(deltas, key=lambda d: d[0]):
        live += delta
        peak = max(peak, live)
    return peak / 2**20


#: A call longer than this (seconds) is timed with the short schedule of :func:`interleaved_ms`.
SLOW_CALL_SECONDS = 1.0


def interleaved_ms(fns: list[Callable[[], Any]], *, rounds: int = 3, warmup: int = 2,
                   min_repeats: int = 3, min_seconds: float = 0.1,
                   max_repeats: int = 100) -> list[float]:
    """Median wall times (ms) of several callables, timed in blocks over several rounds.

    In each round every callable is warmed up and then timed in a block of consecutive calls
    (at least ``min_repeats`` and ``min_seconds``); medians are over all rounds. Blocks keep
    each callable's caches warm, as in real use; rounds spread a slow period of the machine
    over all callables alike so their ratios stay meaningful.

    Raises:
        TypeError: ``fns`` is not a list of callables, a count not an int.
        ValueError: as :func:`median_ms`, and ``rounds`` outside ``[1, MAX_REPEATS]``.
    """
    if not isinstance(fns, list | tuple) or not all(callable(fn) for fn in fns):
        raise TypeError(f"fns: expected a list of callables, received {type(fns).__name__} "
                        f"{fns!r:.60}")
    check_int(rounds, "rounds", minimum=1, maximum=MAX_REPEATS)
    check_repeats(warmup, min_repeats, min_seconds, max_repeats)
    times: list[list[float]] = [[] for _ in fns]
    # A slow call (over SLOW_CALL_SECONDS) is timed after its first call with two repeats, in one
    # round: its noise is small relative to its length, and a full schedule would take
    # minutes. The other callables of the group keep their warm-up and repeats (in that one
    # round): two calls right after seconds of another kernel are no median.
    slow = []
    for fn in fns:
        t0 = time.perf_counter()
        fn()
        _sync()
        slow.append(time.perf_counter() - t0 > SLOW_CALL_SECONDS)
    schedules = [(0, 2, 0.0) if s else (warmup, min_repeats, min_seconds) for s in slow]
    for _ in range(1 if any(slow) else rounds):
        for fn, bucket, (warm, least, seconds) in zip(fns, times, schedules, strict=True):
            for _ in range(warm):
                fn()
            _sync()
            start = time.perf_counter()
            count = 0
            while count < max_repeats and (
                count < least or time.perf_counter() - start < seconds
            ):
                t0 = time.perf_counter()
                fn()
                _sync()
                bucket.append((time.perf_counter() - t0) * 1e3)
                count += 1
    return [statistics.median(t) for t in times]


def measure(suite: str, cases: Iterable[Case], *, memory: bool = True,
            progress: Callable[[str], None] | None = None) -> list[Record]:
    """Time every case and fill in ratios against the baseline of the same ``name``.

    Cases of the same ``name`` (consecutive in ``cases``) are timed in round-robin.

    Raises:
        TypeError: ``suite`` is not a str, ``cases`` not an iterable of :class:`Case`,
            ``memory`` not a bool, ``progress`` not ``None`` or a callable.
    """
    check_instance(suite, "suite", str)
    check_bool(memory, "memory")
    check_callable(progress, "progress", optional=True)
    if isinstance(cases, str) or not hasattr(cases, "__iter__"):
        raise TypeError(f"cases: expected an iterable of Case, received "
                        f"{type(cases).__name__} {cases!r:.60}")
    groups: list[list[Case]] = []
    for case in cases:
        if not isinstance(case, Case):
            raise TypeError(f"cases: expected an iterable of Case, received an item "
                            f"{type(case).__name__} {case!r:.60}")
        if groups and groups[-1][0].name == case.name:
            groups[-1].append(case)
        else:
            groups.append([case])
    records: list[Record] = []
    for group in groups:
        if progress is not None:
            progress(f"{group[0].name} ({', '.join(c.impl for c in group)})")
        fwd = interleaved_ms([c.forward for c in group])
        with_bwd = [c for c in group if c.forward_backward is not None]
        bwd_times = interleaved_ms([c.forward_backward for c in with_bwd])  # type: ignore[misc]
        fwd_bwd = {id(c): t for c, t in zip(with_bwd, bwd_times, strict=True)}
        for case, t_fwd in zip(group, fwd, strict=True):
            peak = peak_memory_mb(case.forward_backward or case.forward) if memory else None
            t_fb = fwd_bwd.get(id(case))
            records.append(Record(suite, case.name, case.impl, case.params, round(t_fwd, 4),
                                  None if t_fb is None else round(t_fb, 4),
                                  None if peak is None else round(peak, 3), case.baseline))
    by_key = {(r.name, r.impl): r for r in records}
    for r in records:
        base = by_key.get((r.name, r.baseline))
        if base is None:
            continue
        r.ratio_fwd = round(r.fwd_ms / base.fwd_ms, 4)
        if r.fwd_bwd_ms is not None and base.fwd_bwd_ms:
            r.ratio_fwd_bwd = round(r.fwd_bwd_ms / base.fwd_bwd_ms, 4)
    return records


def _check_records(records: object) -> list[Record]:
    if isinstance(records, str) or not hasattr(records, "__iter__"):
        raise TypeError(f"records: expected an iterable of Record, received "
                        f"{type(records).__name__} {records!r:.60}")
    out = list(records)  # type: ignore[call-overload]
    if not all(isinstance(r, Record) for r in out):
        raise TypeError("records: expected an iterable of Record, received other items")
    return out


def write_jsonl(records: Iterable[Record], stream: IO[str]) -> None:
    """Write one JSON object per record.

    Raises:
        TypeError: ``records`` is not an iterable of :class:`Record`, ``stream`` has no
            ``write``.
    """
    records = _check_records(records)
    if not callable(getattr(stream, "write", None)):
        raise TypeError(f"stream: expected a text stream (with write), received "
                        f"{type(stream).__name__} {stream!r:.60}")
    for r in records:
        stream.write(json.dumps(asdict(r)) + "\n")


def append_jsonl(records: Iterable[Record], path: Path) -> None:
    """Append records to a JSON-lines file (created with its folders if missing).

    The file is rewritten whole through :func:`~prodint.report.write_atomic`, so an
    interrupted run leaves the earlier lines intact and never half a line.

    Raises:
        TypeError: ``records`` is not an iterable of :class:`Record`, ``path`` not a path.
        ValueError: ``path`` cannot be written (:func:`~prodint.report.check_output_file`).
        OSError: the file cannot be read or written.
    """
    records = _check_records(records)
    path = check_output_file(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    write_atomic(path, old + "".join(json.dumps(asdict(r)) + "\n" for r in records))
