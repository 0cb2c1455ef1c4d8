"""Suite ``zoo``: each family is paired with its counterpart and both compute the same."""

import torch

from prodint.bench import zoo_suite
from prodint.bench.zoo_pairs import PAIRS


def test_cases_pair_prodint_with_torch() -> None:
    dense = next(p for p in PAIRS if p.name == "dense")
    cases = list(zoo_suite.pair_cases(dense, "cpu"))
    assert [c.impl for c in cases] == ["torch", "prodint"]
    assert {c.baseline for c in cases} == {"torch"}
    torch.testing.assert_close(cases[1].forward(), cases[0].forward(), rtol=1e-5, atol=1e-5)
    cases[1].forward_backward()  # runs backward without error


def test_attention_pair_passes_its_options_to_both() -> None:
    attention = next(p for p in PAIRS if p.name == "multi-head attention")
    torch_case, prodint_case = zoo_suite.pair_cases(attention, "cpu")
    ours, theirs = prodint_case.forward(), torch_case.forward()
    assert ours.shape == theirs.shape == (8, 128, 64)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
