"""Timing and memory measurement for the benchmark suites.

A case is a pair of callables built by a suite: ``forward()`` returns a tensor and
``forward_backward()`` runs forward and backward. Times are medians over repeats after
warm-up; ratios are always against a baseline case measured in the same run, so they carry
over between machines better than absolute times.

Peak memory is the largest amount of tensor memory alive at once during one forward+backward
call beyond what existed before it: ``torch.cuda.max_memory_allocated`` on a GPU, and on the
CPU the running sum of allocations and frees recorded by ``torch.profiler`` with
``profile_memory=True``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import torch
from torch.profiler import ProfilerActivity, profile


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


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def median_ms(fn: Callable[[], Any], *, warmup: int = 2, min_repeats: int = 5,
              min_seconds: float = 0.2, max_repeats: int = 200) -> float:
    """Median wall time of ``fn`` in milliseconds after ``warmup`` calls.

    Repeats at least ``min_repeats`` times and until ``min_seconds`` have been spent (at most
    ``max_repeats`` times).
    """
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


def peak_memory_mb(fn: Callable[[], Any]) -> float:
    """Peak tensor memory in MiB allocated during one call of ``fn`` (see module doc)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
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


def measure(suite: str, cases: Iterable[Case], *, memory: bool = True,
            progress: Callable[[str], None] | None = None) -> list[Record]:
    """Time every case and fill in ratios against the baseline of the same ``name``."""
    records: list[Record] = []
    for case in cases:
        if progress is not None:
            progress(f"{case.name} · {case.impl}")
        fwd = median_ms(case.forward)
        fwd_bwd = median_ms(case.forward_backward) if case.forward_backward else None
        mem_fn = case.forward_backward or case.forward
        peak = peak_memory_mb(mem_fn) if memory else None
        records.append(Record(suite, case.name, case.impl, case.params, round(fwd, 4),
                              None if fwd_bwd is None else round(fwd_bwd, 4),
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


def write_jsonl(records: Iterable[Record], stream: IO[str]) -> None:
    """Write one JSON object per record."""
    for r in records:
        stream.write(json.dumps(asdict(r)) + "\n")


def append_jsonl(records: Iterable[Record], path: Path) -> None:
    """Append records to a JSON-lines file, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        write_jsonl(records, f)
