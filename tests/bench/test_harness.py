"""The benchmark harness: records, ratios against a same-run baseline, JSON lines."""

import io
import json
import time

import pytest
import torch

from prodint.bench import (
    Case,
    Record,
    algebra_suite,
    harness,
    interleaved_ms,
    measure,
    median_ms,
    peak_memory_mb,
    timed_case,
    write_jsonl,
)
from prodint.bench.harness import append_jsonl, main_output
from prodint.bench.suites import run_suite

REQUIRED = {"suite", "name", "impl", "params", "fwd_ms", "fwd_bwd_ms", "peak_mem_mb",
            "baseline", "ratio_fwd", "ratio_fwd_bwd"}


def _case(impl: str, size: int) -> Case:
    x = torch.randn(size, size, requires_grad=True)

    def fwd_bwd() -> None:
        x.grad = None
        (x @ x).sum().backward()

    return Case("square", impl, {"size": size}, lambda: x @ x, fwd_bwd, baseline="small")


def test_ratios_are_against_baseline_of_same_run() -> None:
    records = measure("t", [_case("small", 16), _case("big", 256)], memory=False)
    small, big = records
    assert small.ratio_fwd == 1.0
    assert big.ratio_fwd == pytest.approx(big.fwd_ms / small.fwd_ms, rel=1e-3)
    assert big.ratio_fwd_bwd == pytest.approx(big.fwd_bwd_ms / small.fwd_bwd_ms, rel=1e-3)
    assert big.fwd_ms > small.fwd_ms


def test_json_lines_have_required_fields() -> None:
    buf = io.StringIO()
    write_jsonl(measure("t", [_case("small", 8)], memory=False), buf)
    lines = buf.getvalue().strip().splitlines()
    assert len(lines) == 1
    assert set(json.loads(lines[0])) >= REQUIRED


def test_median_ms_counts_calls() -> None:
    calls = []
    median_ms(lambda: calls.append(1), warmup=3, min_repeats=7, min_seconds=0.0)
    assert len(calls) == 10


def test_a_fast_callable_beside_a_slow_one_keeps_its_warm_up_and_repeats(monkeypatch) -> None:
    """The slow callable of a group gets its first call and two repeats; the fast one its
    first call, the warm-up (2) and at least ``min_repeats`` (3), in one round."""
    monkeypatch.setattr(harness, "SLOW_CALL_SECONDS", 0.01)
    calls = {"slow": 0, "fast": 0}

    def slow() -> None:
        calls["slow"] += 1
        time.sleep(0.02)

    def fast() -> None:
        calls["fast"] += 1

    interleaved_ms([slow, fast], min_seconds=0.0)
    assert calls == {"slow": 3, "fast": 6}


def test_peak_memory_sees_a_large_temporary() -> None:
    def make() -> float:
        big = torch.ones(1024, 1024, 8)  # 32 MiB
        return float(big.sum())

    assert 30 <= peak_memory_mb(make) <= 80


def test_algebra_suite_cases_cover_kernels_auto_and_native() -> None:
    cases = list(algebra_suite.cases(quick=True))
    impls_by_name: dict[str, set[str]] = {}
    for c in cases:
        impls_by_name.setdefault(c.name, set()).add(c.impl)
        assert c.baseline == "dense"
    cyclic = next(v for k, v in impls_by_name.items() if k.startswith("R[C64]"))
    assert cyclic == {"dense", "sparse", "fft", "auto", "native"}
    matrix = next(v for k, v in impls_by_name.items() if k.startswith("M8"))
    assert {"matmul", "native", "auto"} <= matrix


def test_suite_kernel_outputs_agree_with_native() -> None:
    by = {(c.name, c.impl): c for c in algebra_suite.cases(quick=True)}
    for (name, impl), case in by.items():
        if impl == "native":
            torch.testing.assert_close(case.forward(), by[(name, "dense")].forward(),
                                       rtol=1e-4, atol=1e-4)


def test_unknown_suite_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="suite: expected one of"):
        run_suite("nope")


def test_timed_case_runs_forward_without_grad_and_clears_gradients() -> None:
    w = torch.randn(4, 4, requires_grad=True)
    x = torch.randn(3, 4, requires_grad=True)
    calls = []

    def fn() -> tuple[torch.Tensor, tuple[torch.Tensor, None]]:
        calls.append(torch.is_grad_enabled())
        y = x @ w
        return y, (2 * y, None)  # an (output, state) result: the output is timed

    case = timed_case("p", "impl", {"k": 1}, fn, [x, w], baseline="impl")
    assert (case.name, case.impl, case.params, case.baseline) == ("p", "impl", {"k": 1}, "impl")
    out = case.forward()
    assert calls == [False] and not out.requires_grad
    torch.testing.assert_close(out, x.detach() @ w.detach())
    for _ in range(2):  # gradients are cleared first, so they do not accumulate
        case.forward_backward()
    torch.testing.assert_close(w.grad, x.detach().sum(0)[:, None].expand(4, 4))
    torch.testing.assert_close(x.grad, w.detach().sum(1).expand(3, 4))
    assert timed_case("p", "impl", {}, fn, None, "impl").forward_backward is None


def test_main_output_is_the_first_tensor() -> None:
    t = torch.ones(2)
    assert main_output((t, (t + 1, t + 2))) is t
    assert main_output([(t, None)]) is t
    assert main_output(t) is t


def test_append_jsonl_keeps_earlier_lines(tmp_path) -> None:
    path = tmp_path / "deep" / "log.jsonl"
    records = measure("t", [_case("small", 8)], memory=False)
    append_jsonl(records, path)
    path.write_text(path.read_text().rstrip("\n"))  # a file whose last line lacks its newline
    append_jsonl(records, path)
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["impl"] == "small" for line in lines)
    assert [p.name for p in path.parent.iterdir()] == ["log.jsonl"]


def test_repeat_counts_and_records_are_checked_before_timing() -> None:
    calls: list[int] = []

    def fn() -> None:
        calls.append(1)

    with pytest.raises(ValueError, match=r"^warmup: expected an int in \[0, 1000000\], "
                                         r"received 1099511627776$"):
        median_ms(fn, warmup=2**40)
    with pytest.raises(ValueError, match=r"^min_repeats: expected an int in \[1, 3\]"):
        median_ms(fn, min_repeats=5, max_repeats=3)
    with pytest.raises(TypeError, match=r"^rounds: expected an int, received 2.0$"):
        interleaved_ms([fn], rounds=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^min_seconds: expected a finite number"):
        median_ms(fn, min_seconds=float("inf"))
    assert calls == []  # nothing was timed
    with pytest.raises(ValueError, match=r"^fwd_ms: expected a finite number >= 0"):
        Record("s", "n", "i", {}, float("nan"), None, None, "i")
