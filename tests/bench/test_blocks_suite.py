"""Suite ``blocks``: the records of a tiny run, state sizes against a hand count, the steps
timed against the blocks' own forward."""

import pytest
import torch

from prodint.bench import blocks_suite
from prodint.bench.harness import measure
from prodint.bench.suites import SUITES

WIDTH, HEADS, LENGTHS = 8, 2, (16, 33)
FLOAT = 4  # bytes of a float32


def _hand_count(impl: str, length: int) -> int:
    """State bytes after ``length`` tokens, counted from the blocks' definitions: the
    convolution keeps its last 3 inputs (kernel 4); softmax attention keeps a key and a value
    of ``WIDTH`` channels per token; tensor attention ``S, C, G`` of ``d × d`` per head
    (``d = WIDTH / HEADS``); Mamba ``E × N`` with ``E = 2·WIDTH``, ``N = 16``, and its
    convolution runs over the ``E`` inner channels."""
    d, inner = WIDTH // HEADS, 2 * WIDTH
    floats = {"softmax": 2 * length * WIDTH + 3 * WIDTH,
              "dtn": 3 * HEADS * d * d + 3 * WIDTH,
              "mamba": inner * 16 + 3 * inner}[impl]
    return floats * FLOAT


@pytest.fixture(scope="module")
def records():
    cases = blocks_suite.cases(width=WIDTH, heads=HEADS, lengths=LENGTHS)
    out = measure("blocks", cases, memory=False)
    blocks_suite.annotate(out)
    return out


def test_the_suite_is_registered_with_its_annotation() -> None:
    assert SUITES["blocks"].cases is blocks_suite.cases
    assert SUITES["blocks"].annotate is blocks_suite.annotate


def test_records_name_every_block_at_every_length(records) -> None:
    names = [f"{kind} T={t}" for t in LENGTHS for kind in ("train", "step")]
    assert [(r.name, r.impl) for r in records] == [
        (name, impl) for name in names for impl in ("softmax", "dtn", "mamba")]
    assert all(r.baseline == "softmax" and r.suite == "blocks" for r in records)
    assert all(r.params["width"] == WIDTH and r.params["B"] == 1 for r in records)
    assert [r.params["T"] for r in records] == [t for t in LENGTHS for _ in range(6)]


def test_train_records_carry_throughputs(records) -> None:
    train = [r for r in records if r.name.startswith("train ")]
    assert all(r.fwd_bwd_ms > 0 for r in train)
    for r in train:
        assert r.extra["tokens_per_s"] == pytest.approx(r.params["T"] * 1e3 / r.fwd_bwd_ms,
                                                        rel=1e-3)
        assert r.extra["fwd_tokens_per_s"] == pytest.approx(r.params["T"] * 1e3 / r.fwd_ms,
                                                            rel=1e-3)
    assert {r.ratio_fwd_bwd for r in train if r.impl == "softmax"} == {1.0}


def test_step_records_carry_time_per_token_and_hand_counted_state_bytes(records) -> None:
    steps = [r for r in records if r.name.startswith("step ")]
    for r in steps:
        assert r.fwd_bwd_ms is None
        assert r.extra["us_per_token"] == pytest.approx(r.fwd_ms * 1e3, rel=1e-3)
        assert r.extra["state_bytes"] == _hand_count(r.impl, r.params["T"])
        assert r.extra["state_vs_softmax"] == pytest.approx(
            _hand_count(r.impl, r.params["T"]) / _hand_count("softmax", r.params["T"]),
            rel=1e-5)


def test_parameter_counts_match_a_hand_count(records) -> None:
    """Two layer norms (weight, bias), the bias-free convolution of kernel 4, ``Wq, Wk, Wv,
    Wo`` and the ``4·WIDTH`` MLP with biases; Mamba's projections (``dt_rank = 1``), its
    convolution with a bias, ``b_dt``, ``A_log`` and ``D``."""
    inner, rank, n = 2 * WIDTH, 1, 16
    attention_block = (2 * 2 * WIDTH + 4 * WIDTH + 4 * WIDTH * WIDTH
                       + 2 * 4 * WIDTH * WIDTH + 4 * WIDTH + WIDTH)
    mamba = (2 * inner * WIDTH + 4 * inner + inner + rank * inner + 2 * n * inner
             + inner * rank + inner + inner * n + inner + WIDTH * inner)
    expected = {"softmax": attention_block, "dtn": attention_block, "mamba": mamba}
    assert all(r.params["parameters"] == expected[r.impl] for r in records)


def test_timed_steps_continue_the_blocks_forward() -> None:
    """The timed call is the step after a prompt of T tokens and one step: it gives the
    block's forward output at position T + 1."""
    length = 16
    cases = list(blocks_suite.cases(width=WIDTH, heads=HEADS, lengths=(length,)))
    steps = [c for c in cases if c.name.startswith("step ")]
    made = blocks_suite.blocks(WIDTH, HEADS)
    x = torch.randn(1, length + 2, WIDTH, generator=torch.Generator().manual_seed(2))
    for case in steps:
        with torch.no_grad():
            full = made[case.impl](x)
        torch.testing.assert_close(case.forward(), full[:, length + 1], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(("arguments", "error", "text"), [
    (dict(quick=1), TypeError, "quick: expected a bool"),
    (dict(lengths=(16, 0)), ValueError, "lengths: expected"),
    (dict(lengths=16), TypeError, "lengths: expected"),
    (dict(width=10, heads=4), ValueError, "heads: expected a divisor of width=10"),
])
def test_bad_arguments_are_refused_before_any_work(arguments, error, text) -> None:
    with pytest.raises(error, match=text):
        next(blocks_suite.cases(**arguments))


def test_state_bytes_refuses_other_parts() -> None:
    assert blocks_suite.state_bytes((torch.zeros(2, 3), None)) == 24
    with pytest.raises(TypeError, match="state: expected tensors"):
        blocks_suite.state_bytes([torch.zeros(2)])
