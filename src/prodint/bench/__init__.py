"""Benchmarks (application layer): the harness, the suites, the zoo's counterpart pairs.

``prodint bench SUITE --json FILE`` runs a suite (:mod:`prodint.bench.suites`) and appends
its records as JSON lines. :mod:`prodint.bench.harness` times and profiles (the one home of
the timing closures, :func:`~prodint.bench.harness.timed_case`); it builds on no other part
of prodint but the validators of :mod:`prodint.checks` and the atomic writer of
:mod:`prodint.report`, so the surveys and experiments time with it too. The suites build on
the whole library; :mod:`prodint.bench.zoo_pairs` pairs each zoo family with its
counterpart outside prodint for the zoo suite and the zoo survey.
"""

from prodint.bench.harness import (
    Case,
    Record,
    interleaved_ms,
    measure,
    median_ms,
    peak_memory_mb,
    timed_case,
    write_jsonl,
)

__all__ = [
    "Case",
    "Record",
    "interleaved_ms",
    "measure",
    "median_ms",
    "peak_memory_mb",
    "timed_case",
    "write_jsonl",
]
