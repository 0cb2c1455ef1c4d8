"""Benchmark harness: ``python -m prodint.bench SUITE --json FILE`` writes JSON lines.

The suites live in :mod:`prodint.bench.suites` (imported on demand: they build on every
other part of the library, while the harness here builds on none).
"""

from prodint.bench.harness import (
    Case,
    Record,
    interleaved_ms,
    measure,
    median_ms,
    peak_memory_mb,
    write_jsonl,
)

__all__ = [
    "Case",
    "Record",
    "interleaved_ms",
    "measure",
    "median_ms",
    "peak_memory_mb",
    "write_jsonl",
]
