"""Suite ``dtn``: the chunked form and SDPA are paired; step cases share a baseline."""

from prodint.bench import dtn_suite


def test_attention_cases_pair_chunk_with_sdpa() -> None:
    cases = list(dtn_suite.attention_cases(64, "cpu"))
    assert [c.impl for c in cases] == ["sdpa", "chunk"]
    assert all(c.baseline == "sdpa" for c in cases)
    for c in cases:
        assert c.forward().shape[-1] == 64
        c.forward_backward()


def test_step_cases_share_the_first_position_as_baseline() -> None:
    cases = list(dtn_suite.step_cases((8, 16), "cpu", window=4))
    assert [c.impl for c in cases] == ["pos=8", "pos=16"]
    assert {c.baseline for c in cases} == {"pos=8"}
    assert cases[1].forward().shape == (1, 4, 8, 64)
