"""The boundary-contract checker finds each kind of violation, and passes a well-checked call."""

from __future__ import annotations

import time
from typing import Any

import pytest
import torch

from prodint.checks import check_float, check_int, check_tensor
from prodint.testing.contract import assert_contract, check_contract, count_cases
from prodint.testing.mutations import mutations


def _scale(x: object, s: object) -> torch.Tensor:
    x = check_tensor(x, "x")
    return x * check_float(s, "s", minimum=0, maximum=10)


def _arguments() -> dict[str, Any]:
    return dict(x=torch.randn(3, 2, dtype=torch.float64,
                              generator=torch.Generator().manual_seed(0)), s=2.0)


def _problems(run: Any, arguments: Any = _arguments, **options: Any) -> dict[tuple[str, str], str]:
    return {(v.argument, v.label): v.problem
            for v in check_contract(run, arguments, **options)}


def test_a_well_checked_call_keeps_the_contract() -> None:
    assert check_contract(lambda a: _scale(**a), _arguments) == []
    assert_contract(lambda a: _scale(**a), _arguments, name="scale")


def test_accepted_nan_and_unnamed_errors_are_reported() -> None:
    problems = _problems(lambda a: a["x"] * a["s"])
    assert problems[("s", "nan")].startswith("accepted")
    assert problems[("s", "bool True")].startswith("accepted")
    assert problems[("s", "inf")] == "returned a non-finite result from finite input"
    assert "does not name the argument" in problems[("x", "list")]


def test_opaque_errors_are_reported() -> None:
    def run(a: dict[str, Any]) -> torch.Tensor:
        x = check_tensor(a["x"], "x")
        return x @ torch.ones(2, 1, dtype=x.dtype)  # a wrong last dim fails inside torch

    problems = _problems(run)
    assert problems[("x", "last dim +1")].startswith("RuntimeError (not a clear error)")


def test_huge_allocations_fail_fast_and_are_reported() -> None:
    start = time.perf_counter()
    problems = _problems(lambda a: torch.zeros(check_int(a["n"], "n", minimum=0)),
                         lambda: dict(n=3))
    assert "tried to allocate more than the memory cap" in problems[("n", "2**40")]
    assert time.perf_counter() - start < 10


def test_hangs_are_reported() -> None:
    def run(a: dict[str, Any]) -> int:
        n = check_int(a["n"], "n")
        if n < 0:
            time.sleep(5)
        return n

    problems = _problems(run, lambda: dict(n=3), timeout=0.2)
    assert problems[("n", "-1")] == "ran past 0.2 s"


def test_results_that_depend_on_the_layout_are_reported() -> None:
    def run(a: dict[str, Any]) -> torch.Tensor:
        x = check_tensor(a["x"], "x", rank=2)
        return x.flatten() if x.is_contiguous() else x.flatten().flip(0)

    problems = _problems(run, lambda: {"x": _arguments()["x"]})
    assert problems[("x", "strided")].startswith("returned a result different")


def test_integer_inputs_must_match_the_float_result() -> None:
    def run(a: dict[str, Any]) -> torch.Tensor:
        x = check_tensor(a["x"], "x", dtypes=None)
        return x / 2 if x.is_floating_point() else x // 2  # integer division: wrong

    problems = _problems(run, lambda: {"x": 3 * _arguments()["x"]})
    assert problems[("x", "integer dtype")].startswith("returned a result different")


def test_a_device_mismatch_must_be_refused() -> None:
    problems = _problems(lambda a: a["x"] + a["y"],
                         lambda: dict(x=torch.ones(2), y=torch.ones(2)))
    assert ("x", "on meta") in problems and ("y", "on meta") in problems


def test_count_cases_counts_the_mutations() -> None:
    base = _arguments()
    expected = len(mutations(base["x"], tensors=1)) + len(mutations(base["s"], tensors=1))
    assert count_cases(_arguments) == expected > 10


def test_the_valid_call_must_succeed() -> None:
    with pytest.raises(ZeroDivisionError):
        check_contract(lambda a: 1 / 0, _arguments)
