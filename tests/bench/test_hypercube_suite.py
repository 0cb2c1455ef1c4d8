"""Suite ``hypercube``: the published step and loop agree with independent references; cases
are paired."""

import statistics
from collections.abc import Iterator

import pytest
import torch

from prodint.bench import hypercube_published, hypercube_suite
from prodint.bench.harness import Record, measure
from prodint.hypercube.model import (
    Factors,
    full_tensor,
    init_factors,
    objective_reference,
    one_hot_target,
)
from prodint.hypercube.tables import make_table, split_cells


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny problems: one thread avoids thread synchronization cost on a busy machine."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def test_published_objective_matches_the_reference() -> None:
    n = 6
    table = make_table("s3")
    g = torch.Generator().manual_seed(0)
    A, B, C = (torch.randn(n, n, n, generator=g, dtype=torch.float64) for _ in range(3))
    mask = torch.rand(n, n, generator=g) < 0.5
    a, b = mask.nonzero(as_tuple=True)
    value = hypercube_published.published_objective(A, B, C, a * n + b, table[a, b], 0.1)
    ref = objective_reference(Factors(A, B, C), one_hot_target(table, torch.float64), mask, 0.1)
    assert abs(value.item() - ref.item()) <= 1e-10 * abs(ref.item())


def test_step_cases_agree_and_pair_with_the_baseline() -> None:
    cases = list(hypercube_suite.step_cases("zn", {"n": 8}, "cpu"))
    assert [c.impl for c in cases] == ["published", "prodint", "prodint-torch",
                                       "matmul-torch", "matmul-numpy"]
    assert all(c.baseline == "published" for c in cases[:3])
    published, prodint, prodint_torch, matmul_torch, matmul_numpy = cases
    x = torch.randn(2048, 2048, generator=torch.Generator().manual_seed(1))
    for matmul in (matmul_torch, matmul_numpy):
        assert matmul.baseline == matmul.impl and matmul.params["n"] == 2048
        assert matmul.forward_backward is not None
        torch.testing.assert_close(matmul.forward_backward(), x @ x, rtol=1e-4, atol=1e-3)
    ours = prodint.forward_backward()
    theirs = [x.clone() for x in prodint_torch.forward_backward()]
    for mine, other in zip(ours, theirs, strict=True):
        torch.testing.assert_close(mine, other, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(prodint.forward(), published.forward(), rtol=1e-4, atol=1e-4)
    published.forward_backward()
    # The same problem rebuilt here, differentiated by autograd through the published form.
    n = 8
    factors = init_factors(n, torch.Generator().manual_seed(0))
    leaves = [x.clone().requires_grad_() for x in factors.tensors()]
    mask = split_cells(n, 0.5, seed=0)
    a, b = mask.nonzero(as_tuple=True)
    table = make_table("zn", n=n)
    hypercube_published.published_objective(*leaves, a * n + b, table[a, b], 0.1).backward()
    torch.testing.assert_close(ours[0], published.forward(), rtol=1e-4, atol=1e-4)
    for mine, x in zip(ours[1:], leaves, strict=True):
        torch.testing.assert_close(mine, x.grad, rtol=1e-4, atol=1e-5)
    assert cases[1].params["flops_step"] == 12 * cases[1].params["pairs"] * 8**3 + 24 * 8**4


def test_published_loop_steps_like_the_reference_and_reaches_the_answer() -> None:
    table, n = make_table("s3"), 6
    mask = split_cells(n, 0.7, seed=0)
    one = hypercube_published.published_train(table, mask, seed=3, max_steps=1,
                                              dtype=torch.float64)
    # One update by hand: the naive objective, autograd, the clip at 0.2 m, SGD from rest.
    g = torch.Generator().manual_seed(3)
    start = [torch.randn(n, n, n, generator=g, dtype=torch.float64) / n**0.5
             for _ in range(3)]
    leaves = [x.clone().requires_grad_() for x in start]
    value = objective_reference(Factors(*leaves), one_hot_target(table, torch.float64), mask,
                                0.1)
    value.backward()
    norm = torch.sqrt(sum(x.grad.square().sum() for x in leaves))
    scale = min(1.0, 0.2 * int(mask.sum()) / (float(norm) + 1e-6))
    assert abs(one.objective[0] - value.item()) <= 1e-10 * value.item()
    for x, x0 in zip(one.factors.tensors(), leaves, strict=True):
        torch.testing.assert_close(x, x0.detach() - 0.5 * scale * x0.grad, rtol=1e-10,
                                   atol=1e-12)
    run = hypercube_published.published_train(table, mask, seed=3, dtype=torch.float64)
    assert run.steps is not None and len(run.held_out_accuracy) == run.steps + 1
    right = full_tensor(run.factors).argmax(-1) == table
    assert bool(right[~mask].all()) and run.held_out_accuracy[-1] == 1.0
    assert all(a < 1.0 for a in run.held_out_accuracy[:-1])
    assert run.imbalance > 0


def test_run_cases_are_measured_once_and_annotated() -> None:
    cases = [*hypercube_suite.step_cases("zn", {"n": 6}, "cpu"),
             *hypercube_suite.answer_cases("zn", {"n": 5}, 2),
             *hypercube_suite.answer_cases("zn", {"n": 11}, 1, converge=False),
             hypercube_suite.verdict_case(
                 (("zn", {"n": 3}, True), ("zp-sq-sum", {"p": 3}, False)), 1)]
    records = measure("hypercube", cases, memory=False)
    hypercube_suite.annotate(records)
    by = {(r.name, r.impl): r for r in records}
    step = by[("step n=6", "prodint")]
    assert step.ratio_fwd_bwd is not None and "fraction_of_187_gflops" in step.extra
    for lib in ("torch", "numpy"):  # the fractions divide by the matmuls timed beside the step
        matmul = by[("step n=6", f"matmul-{lib}")]
        rate = 2 * 2048**3 / (matmul.fwd_bwd_ms / 1e3)
        assert step.extra[f"matmul_gflops_{lib}"] == round(rate / 1e9, 1)
        reached = step.params["flops_step"] / (step.fwd_bwd_ms / 1e3)
        assert step.extra[f"fraction_of_{lib}_matmul"] == round(reached / rate, 3)
    published, ours = (by[("answer zn n=5 f=0.5", impl)] for impl in ("published", "prodint"))
    for r in (published, ours):
        seeds = r.extra["seeds"]
        assert [s["seed"] for s in seeds] == [0, 1] and r.baseline == "published"
        assert abs(r.fwd_ms - statistics.median(s["seconds"] for s in seeds) * 1e3) <= 1.0
    assert ours.ratio_fwd == round(ours.fwd_ms / published.fwd_ms, 4)
    assert all(s["converged"] and s["converged_steps"] >= (s["steps"] or 0)
               for s in ours.extra["seeds"])
    assert "median_converged_seconds" in ours.extra
    # to 100% held-out only: the same first step, and no convergence recorded
    short = by[("answer zn n=11 f=0.5 (to 100% held-out only)", "prodint")].extra
    assert short["seeds"][0]["reached"] and "converged" not in short["seeds"][0]
    assert "median_converged_seconds" not in short and short["median_steps"] >= 1
    verdict = by[("verdict 1 seeds", "prodint")].extra
    assert verdict["tasks"]["zp-sq-sum p=3"]["verdicts"] == [False]
    assert verdict["all_right"] is verdict["tasks"]["zn n=3"]["all_right"]


def test_quick_cases_are_small() -> None:
    names = [c.name for c in hypercube_suite.cases(quick=True)]
    assert names[:10] == ["step n=31"] * 5 + ["step n=48"] * 5
    assert names[10:12] == ["answer s4 f=0.5"] * 2 and names[-1] == "verdict 2 seeds"


def test_full_cases_train_z97_and_s5_to_convergence() -> None:
    answers = {c.name: c.params["converge"] for c in hypercube_suite.cases()
               if c.name.startswith("answer")}
    assert answers == {"answer zp-add p=97 f=0.5": True, "answer s5 f=0.5": True}


def test_step_records_without_matmuls_divide_by_matmuls_timed_now(monkeypatch) -> None:
    calls = []

    def now() -> dict[str, float]:
        calls.append(1)
        return {"torch": 100e9, "numpy": 200e9}

    monkeypatch.setattr(hypercube_suite, "_matmul_rates_now", now)
    params = {"flops_step": 10**9, "flops_published": 4 * 10**9}
    records = [Record("hypercube", f"step n={n}", impl, params, 1.0, 50.0, None, "published")
               for n in (5, 6) for impl in ("published", "prodint")]
    hypercube_suite.annotate(records)
    assert len(calls) == 1  # measured once for every group that lacks them
    ours = records[3].extra
    assert ours["gflops"] == 20.0 and ours["matmul_gflops_numpy"] == 200.0
    assert ours["fraction_of_numpy_matmul"] == 0.1 and ours["fraction_of_torch_matmul"] == 0.2
    assert records[2].extra["gflops"] == 80.0 and "fraction_of_torch_matmul" not in records[2].extra
