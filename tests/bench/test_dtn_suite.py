"""Suite ``dtn``: the chunked form and SDPA are paired; step cases share a baseline."""

import pytest

from prodint.bench import dtn_suite
from prodint.bench.harness import Record


def test_attention_cases_pair_chunk_with_sdpa_beside_a_matmul() -> None:
    cases = list(dtn_suite.attention_cases(64, "cpu"))
    assert [c.impl for c in cases] == ["sdpa", "chunk", "matmul"]
    assert [c.baseline for c in cases] == ["sdpa", "sdpa", "matmul"]
    for c in cases[:2]:
        assert c.forward().shape[-1] == 64
        c.forward_backward()
    assert cases[2].forward().shape == (2048, 2048) and cases[2].forward_backward is None


def test_lengths_start_at_1k_and_include_2k() -> None:
    names = [c.name for c in dtn_suite.cases(quick=True) if c.name.startswith("T=")]
    assert names == ["T=1024"] * 3 + ["T=2048"] * 3 + ["T=4096"] * 3


def test_sdpa_flops_by_hand() -> None:
    # T = 3: six causal pairs; Q Kᵀ 6 dot products of length 2 (24 FLOPs), P V 6 rows of 3
    # multiply-adds (36); backward three length-2 and two length-3 products per pair
    assert dtn_suite.sdpa_flops(1, 3, 1, 2, 3) == 24 + 36
    assert dtn_suite.sdpa_flops(1, 3, 1, 2, 3, backward=True) == 3 * 24 + 2 * 36
    # the figure of causal SDPA at 16k (B=1, H=8, D=64): about 275 GFLOP forward
    assert round(dtn_suite.sdpa_flops(1, 16384, 8, 64, 64) / 1e9) == 275
    with pytest.raises(ValueError, match=r"^t: expected an int >= 0, received -1$"):
        dtn_suite.sdpa_flops(1, -1, 1, 2, 3)


def test_annotate_writes_flops_rates_and_fractions(monkeypatch) -> None:
    monkeypatch.setattr(dtn_suite, "matmul_rate", lambda n=2048, device="cpu": 100e9)
    params = {"T": 128, "B": 1, "H": 2, "D": 4, "chunk": 64, "device": "cpu"}
    rows = [Record("dtn", "T=128", impl, params, 0.5, 2.0, None, "sdpa")
            for impl in ("sdpa", "chunk")]
    dtn_suite.annotate(rows)
    sdpa, chunk = (r.extra for r in rows)
    assert sdpa["flops_fwd"] == 2 * 128 * 129 * 8
    assert sdpa["flops_fwd_bwd"] == 2 * 128 * 129 * (8 + 20)
    # the chunked form: two chunks per head, eight products of 2·64·64·4 or 2·64·4·4 FLOPs
    # (Ã, Y, P, PV: w² D; S_loc, QS, M_loc, QM: w D²) and the scans (2 · 32 additions)
    per_block = 4 * 2 * 64 * 64 * 4 + 4 * 2 * 64 * 4 * 4
    assert chunk["flops_fwd"] == 4 * per_block + 4 * 32
    assert sum(chunk["flops_fwd_terms"].values()) == chunk["flops_fwd"]
    for extra in (sdpa, chunk):
        assert extra["gflops_fwd"] == round(extra["flops_fwd"] / 0.5e-3 / 1e9, 1)
        assert extra["fraction_of_matmul_fwd_bwd"] == round(
            extra["flops_fwd_bwd"] / 2e-3 / 100e9, 3)
        assert extra["matmul_gflops"] == 100.0


def test_annotate_divides_by_the_matmul_timed_beside(monkeypatch) -> None:
    """A group with a ``matmul`` row takes its rate from it (2·2048³ FLOPs in 0.2 ms: 85.9
    TFLOP/s), not from a matmul measured afterwards."""
    monkeypatch.setattr(dtn_suite, "matmul_rate", lambda n=2048, device="cpu": 1 / 0)
    params = {"T": 128, "B": 1, "H": 2, "D": 4, "chunk": 64, "device": "cpu"}
    rows = [Record("dtn", "T=128", "chunk", params, 0.5, 2.0, None, "sdpa"),
            Record("dtn", "T=128", "matmul", params | {"n": 2048}, 0.2, None, None, "matmul")]
    dtn_suite.annotate(rows)
    chunk, matmul = (r.extra for r in rows)
    rate = 2 * 2048**3 / 0.2e-3
    assert matmul == {"matmul_gflops": round(rate / 1e9, 1)}
    assert chunk["matmul_gflops"] == round(rate / 1e9, 1)
    assert chunk["fraction_of_matmul_fwd"] == round(chunk["flops_fwd"] / 0.5e-3 / rate, 3)
