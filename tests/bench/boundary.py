"""Boundary entries of prodint.bench: the harness's records, cases, timers and writers.

The timed callables are tiny matrix products and the repeat counts small, so that every call
takes milliseconds (a refused count never starts timing).
"""

from __future__ import annotations

import io
from typing import Any

import torch

from prodint.bench import (
    Case,
    Record,
    interleaved_ms,
    measure,
    median_ms,
    peak_memory_mb,
    timed_case,
    write_jsonl,
)
from prodint.testing.contract import Entry

_NAMES = frozenset({"name", "impl", "baseline", "suite"})


def _x() -> torch.Tensor:
    return torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64,
                       requires_grad=True)


def _fn():
    x = _x()
    return lambda: x @ x


def _record_arguments() -> dict[str, Any]:
    return dict(suite="t", name="square n=4", impl="small", params={"n": 4}, fwd_ms=0.5,
                fwd_bwd_ms=1.5, peak_mem_mb=0.25, baseline="small", ratio_fwd=1.0,
                ratio_fwd_bwd=1.0, extra={"note": "x"})


def _case_arguments() -> dict[str, Any]:
    x = _x()
    return dict(name="square n=4", impl="small", params={"n": 4}, forward=lambda: x @ x,
                forward_backward=lambda: (x @ x).sum().backward(), baseline="small")


def _timed(a: dict[str, Any]) -> torch.Tensor:
    case = timed_case(**a)
    out = case.forward()
    if case.forward_backward is not None:
        case.forward_backward()
    return out


def _timed_arguments() -> dict[str, Any]:
    x = _x()
    return dict(name="square n=4", impl="small", params={"n": 4}, fn=lambda: x @ x,
                leaves=[x], baseline="small")


def _measured(a: dict[str, Any]) -> list[str]:
    return [r.impl for r in measure(**a)]


def _measure_arguments() -> dict[str, Any]:
    x = _x()
    cases = [timed_case("square", impl, {}, lambda: x @ x, [x], "small")
             for impl in ("small", "other")]
    return dict(suite="t", cases=cases, memory=False, progress=lambda message: None)


def _jsonl(a: dict[str, Any]) -> str:
    write_jsonl(**a)
    return a["stream"].getvalue()


_TIMING = dict(warmup=1, min_repeats=2, min_seconds=0.0, max_repeats=3)

ENTRIES = [
    Entry(("prodint.bench.Record",), lambda a: Record(**a).fwd_ms, _record_arguments,
          free_text=_NAMES),
    Entry(("prodint.bench.Case",), lambda a: Case(**a).forward(), _case_arguments,
          free_text=_NAMES),
    Entry(("prodint.bench.timed_case",), _timed, _timed_arguments, free_text=_NAMES),
    Entry(("prodint.bench.median_ms",), lambda a: median_ms(**a),
          lambda: dict(fn=_fn(), **_TIMING)),
    Entry(("prodint.bench.interleaved_ms",), lambda a: interleaved_ms(**a),
          lambda: dict(fns=[_fn(), _fn()], rounds=2, **_TIMING)),
    Entry(("prodint.bench.peak_memory_mb",), lambda a: peak_memory_mb(**a),
          lambda: dict(fn=_fn())),
    Entry(("prodint.bench.measure",), _measured, _measure_arguments,
          free_text=frozenset({"suite"})),
    Entry(("prodint.bench.write_jsonl",), _jsonl,
          lambda: dict(records=[Record(**_record_arguments())], stream=io.StringIO())),
]

EXEMPT: dict[str, str] = {}
