"""Benchmark harness: ``python -m prodint.bench SUITE --json FILE`` writes JSON lines."""

from prodint.bench.harness import (
    Case,
    Record,
    interleaved_ms,
    measure,
    median_ms,
    peak_memory_mb,
    write_jsonl,
)
from prodint.bench.suites import SUITES, run_suite

__all__ = [
    "SUITES",
    "Case",
    "Record",
    "interleaved_ms",
    "measure",
    "median_ms",
    "peak_memory_mb",
    "run_suite",
    "write_jsonl",
]
