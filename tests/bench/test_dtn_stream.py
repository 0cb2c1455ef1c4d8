"""The streaming rows of suite ``dtn``: labels, baselines and record fields on tiny sizes (no
timing is asserted)."""

import pytest
import torch

from prodint.bench import dtn_stream
from prodint.bench.harness import measure
from prodint.ops.tensor_attention import step_kernel, tensor_attention


def test_step_rows_time_one_token_against_the_first_position() -> None:
    cases = list(dtn_stream.step_cases((8, 16), heads=2, dim=4))
    fused = cases[0].params["kernel"] == "fused"  # numba installed: the torch kernel beside
    assert [c.impl for c in cases] == ["step pos=8", "advance pos=8",
                                       *(["torch kernel pos=8"] if fused else []),
                                       "recurrent T=1 pos=8", "step pos=16"]
    assert cases[0].params["kernel"] == ("fused" if step_kernel.available() else "torch")
    cases = [c for c in cases if c.impl != "torch kernel pos=8"]
    assert {c.name for c in cases} == {"single-token step H=2 D=4"}
    assert {c.baseline for c in cases} == {"step pos=8"}
    assert all(c.params["tokens_per_call"] == 1 and c.forward_backward is None
               for c in cases)
    first, recurrent = cases[0].forward(), cases[2].forward()
    assert first.shape == (1, 2, 4) and recurrent.shape == (1, 1, 2, 4)
    # both read the same state and the same token: the same output
    torch.testing.assert_close(first, recurrent[:, 0], rtol=1e-5, atol=1e-6)
    if fused:
        torch.testing.assert_close(first, next(c for c in list(dtn_stream.step_cases(
            (8,), heads=2, dim=4)) if c.impl == "torch kernel pos=8").forward(), rtol=1e-5,
            atol=1e-6)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 9, 2, 4, generator=g) * 0.1 for _ in range(3))
    torch.testing.assert_close(first, tensor_attention(q, k, v)[0][:, 8], rtol=1e-5,
                               atol=1e-6)


def test_generation_rows_pair_the_dtn_with_the_softmax_baseline() -> None:
    cases = list(dtn_stream.generation_cases((1, 2), (5,), width=8, depth=1, heads=2,
                                             vocab=7))
    impls = ["softmax", "dtn", "dtn checked step"]
    assert [(c.name, c.impl) for c in cases] == [
        *(("generate B=1 ctx=5", i) for i in impls),
        *(("generate B=2 ctx=5", i) for i in impls)]
    assert {c.baseline for c in cases} == {"softmax"}
    assert [c.params["tokens_per_call"] for c in cases] == [1, 1, 1, 2, 2, 2]
    # the next logits of every sequence; the decoder and the checked step agree
    fast, checked = cases[4].forward(), cases[5].forward()
    assert fast.shape == (2, 7)
    torch.testing.assert_close(fast, checked, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cases[4].forward(), cases[5].forward(), rtol=1e-5, atol=1e-6)


def test_records_carry_ratios_against_the_baselines() -> None:
    cases = [*dtn_stream.step_cases((4, 8), heads=1, dim=2),
             *dtn_stream.generation_cases((1,), (3,), width=4, depth=1, heads=1, vocab=5)]
    records = measure("dtn", cases, memory=False)
    assert [(r.name, r.impl) for r in records] == [(c.name, c.impl) for c in cases]
    by_impl = {r.impl: r for r in records}
    assert by_impl["step pos=4"].ratio_fwd == 1.0 and by_impl["softmax"].ratio_fwd == 1.0
    # the ratio of the recorded times, up to its rounding to 4 decimals
    assert by_impl["dtn"].ratio_fwd == pytest.approx(
        by_impl["dtn"].fwd_ms / by_impl["softmax"].fwd_ms, rel=1e-3, abs=1e-4)
    assert all(r.suite == "dtn" and r.fwd_ms > 0 and r.fwd_bwd_ms is None for r in records)


def test_quick_cases_and_bad_sizes() -> None:
    names = {c.name for c in dtn_stream.cases(quick=True)}
    assert names == {"single-token step H=8 D=64", "generate B=1 ctx=256",
                     "generate B=32 ctx=256"}
    with pytest.raises(ValueError, match="positions"):
        list(dtn_stream.step_cases((0,)))
    with pytest.raises(ValueError, match="contexts"):
        list(dtn_stream.generation_cases((1,), (0,), width=4, depth=1, heads=1, vocab=5))
    with pytest.raises(TypeError, match="quick"):
        list(dtn_stream.cases(quick=1))  # type: ignore[arg-type]
