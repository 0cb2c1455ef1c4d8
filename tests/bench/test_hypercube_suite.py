"""Suite ``hypercube``: the published step agrees with prodint's; cases are paired."""

from collections.abc import Iterator

import pytest
import torch

from prodint.bench import hypercube_suite
from prodint.bench.harness import measure
from prodint.hypercube.model import Factors, init_factors, objective_reference, one_hot_target
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
    value = hypercube_suite.published_objective(A, B, C, a * n + b, table[a, b], 0.1)
    ref = objective_reference(Factors(A, B, C), one_hot_target(table, torch.float64), mask, 0.1)
    assert abs(value.item() - ref.item()) <= 1e-10 * abs(ref.item())


def test_step_cases_agree_and_pair_with_the_baseline() -> None:
    cases = list(hypercube_suite.step_cases("zn", {"n": 8}, "cpu"))
    assert [c.impl for c in cases] == ["published", "prodint", "prodint-torch"]
    assert all(c.baseline == "published" for c in cases)
    published, prodint, prodint_torch = cases
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
    hypercube_suite.published_objective(*leaves, a * n + b, table[a, b], 0.1).backward()
    torch.testing.assert_close(ours[0], published.forward(), rtol=1e-4, atol=1e-4)
    for mine, x in zip(ours[1:], leaves, strict=True):
        torch.testing.assert_close(mine, x.grad, rtol=1e-4, atol=1e-5)
    assert cases[1].params["flops_step"] == 12 * cases[1].params["pairs"] * 8**3


def test_run_cases_are_measured_once_and_annotated() -> None:
    cases = [*hypercube_suite.step_cases("zn", {"n": 6}, "cpu"),
             hypercube_suite.train_case("zn", {"n": 5}),
             hypercube_suite.verdict_case(
                 (("zn", {"n": 3}, True), ("zp-sq-sum", {"p": 3}, False)), 1)]
    records = measure("hypercube", cases, memory=False)
    hypercube_suite.annotate(records)
    by = {(r.name, r.impl): r for r in records}
    step = by[("step n=6", "prodint")]
    assert step.ratio_fwd_bwd is not None and "fraction_of_187_gflops" in step.extra
    assert step.extra["matmul_gflops_numpy"] > 0 and "fraction_of_torch_matmul" in step.extra
    run = by[("train zn n=5 f=0.5", "prodint")]
    assert run.extra["converged"] and run.extra["steps"] > 0
    assert run.fwd_ms == run.extra["run_seconds"] * 1e3
    verdict = by[("verdict 1 seeds", "prodint")].extra
    assert verdict["tasks"]["zp-sq-sum p=3"]["verdicts"] == [False]
    assert verdict["all_right"] is verdict["tasks"]["zn n=3"]["all_right"]


def test_quick_cases_are_small() -> None:
    names = [c.name for c in hypercube_suite.cases(quick=True)]
    assert names[:6] == ["step n=31"] * 3 + ["step n=48"] * 3
    assert "train s4 f=0.5" in names and names[-1] == "verdict 2 seeds"
