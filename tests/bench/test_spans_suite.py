"""Suite ``spans``: every implementation of a problem computes the same layer, forward and
backward; the unrolled convolution and the random graph are what they claim; annotations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from prodint.bench import spans_suite
from prodint.bench.harness import Record
from prodint.bench.suites import SUITES
from prodint.spans import conv


def test_quick_cases_run_and_pair_with_the_baseline() -> None:
    cases = list(spans_suite.cases(quick=True))
    impls: dict[str, list[str]] = {}
    for case in cases:
        impls.setdefault(case.name.split()[0], []).append(case.impl)
        out = case.forward()
        assert out.dtype == torch.float32 and torch.isfinite(out).all()
        assert case.forward_backward is not None
        case.forward_backward()
    assert impls == {"dense": ["native", "span", "sparse", "torch_csr"],
                     "conv2d": ["native", "span", "sparse", "torch_csr"],
                     "graph": ["index_add", "span", "sparse", "torch_csr", "torch_sparse"]}
    assert {c.baseline for c in cases if c.name.startswith("graph")} == {"index_add"}
    assert {c.baseline for c in cases if not c.name.startswith("graph")} == {"native"}
    assert SUITES["spans"].cases is spans_suite.cases


@pytest.mark.parametrize("index", [0, 1, 2])
def test_implementations_agree_in_float64(index: int) -> None:
    problem = list(spans_suite.problems(quick=True, dtype=torch.float64))[index]
    fn, leaves = problem.impls[problem.baseline]
    want = fn()
    want.sum().backward()
    want_grads = [t.grad.clone() for t in leaves]
    for impl, (fn, mine) in problem.impls.items():
        for t in mine:
            t.grad = None
        got = fn()
        assert got.dtype == torch.float64 and got.shape == want.shape, impl
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10, msg=impl)
        got.sum().backward()
        shared = [t for t in leaves if any(t is m for m in mine)]
        assert shared, impl
        for t in shared:
            grad = want_grads[next(i for i, s in enumerate(leaves) if s is t)]
            torch.testing.assert_close(t.grad, grad, atol=1e-10, rtol=1e-10, msg=impl)


def test_graph_gain_receives_the_sum_of_the_messages() -> None:
    problem = list(spans_suite.problems(quick=True, dtype=torch.float64))[2]
    fn, (x, w) = problem.impls["span"]
    out = fn()
    out.sum().backward()
    # d/dw of sum(w * A x) at w = 1 is sum(A x), the output itself
    torch.testing.assert_close(w.grad, out.sum().reshape(1), atol=1e-9, rtol=1e-12)
    assert problem.params["flops_fwd"] == 2 * problem.params["edges"] * x.shape[1]


def test_channel_span_is_the_convolution_over_channel_pairs() -> None:
    gen = torch.Generator().manual_seed(3)
    W = torch.randn(3, 2, 3, 3, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 2, 5, 5, generator=gen, dtype=torch.float64)
    block = conv([5, 5], 3, padding=1)
    unrolled = spans_suite.channel_span(block, 2, 3)
    assert (unrolled.in_size, unrolled.out_size) == (25 * 2, 25 * 3)
    assert unrolled.size == block.size * 6 and unrolled.param_size == 9 * 6
    w = W.flatten(2).permute(2, 1, 0)                               # [9, c_in, c_out]
    y = unrolled(w.reshape(-1), x.flatten(2).mT.reshape(2, -1))     # [B, points * c_out]
    y = y.reshape(2, 25, 3).mT.reshape(2, 3, 5, 5)
    torch.testing.assert_close(y, F.conv2d(x, W, padding=1), atol=1e-12, rtol=1e-12)


def test_random_graph_is_simple() -> None:
    edges = spans_suite.random_graph(50, 6, torch.Generator().manual_seed(0))
    assert edges.shape[0] == 2 and 250 <= edges.shape[1] <= 300
    assert bool((edges[0] != edges[1]).all())
    assert torch.unique(edges[0] * 50 + edges[1]).numel() == edges.shape[1]
    assert int(edges.min()) >= 0 and int(edges.max()) < 50


def _record(impl: str, fwd: float, fwd_bwd: float, ratio: float | None) -> Record:
    return Record("spans", "graph n=4", impl, {"flops_fwd": 4e9}, fwd, fwd_bwd, None,
                  "index_add", ratio_fwd=ratio)


@pytest.mark.parametrize("span_ms,met", [(12.0, True), (16.0, False), (25.0, False)])
def test_annotate_compares_with_torch_sparse(span_ms: float, met: bool) -> None:
    records = [_record("index_add", 20.0, 50.0, 1.0),
               _record("span", span_ms, 30.0, span_ms / 20.0),
               _record("sparse", 14.0, 60.0, 0.7),
               _record("torch_sparse", 10.0, 40.0, 0.5)]
    spans_suite.annotate(records)
    base, span, sparse, reference = records
    assert base.extra == {"gflops_fwd": 200.0} and reference.extra == {"gflops_fwd": 400.0}
    assert span.extra["span_vs_torch_sparse"] == span_ms / 10.0
    assert span.extra["span_vs_torch_sparse_fwd_bwd"] == 0.75
    assert span.extra["targets_met"] is met
    assert sparse.extra["sparse_vs_torch_sparse"] == 1.4 and "targets_met" not in sparse.extra
