"""Suite ``interaction``: the hand-written baselines compute what the compiled modules do."""

import torch

from prodint.bench import interaction_suite


def test_hand_written_baselines_agree_with_compiled_modules() -> None:
    seen = set()
    for name, module, hand, shape in interaction_suite.problems(quick=True):
        module = module.double()
        x = torch.randn(shape, dtype=torch.float64)
        torch.testing.assert_close(hand(module, x), module(x))
        seen.add(name.split()[0])
    assert seen == {"dense", "conv1d", "glu", "linear_attention"}


def test_cases_pair_compiled_with_torch_baseline() -> None:
    cases = list(interaction_suite.cases(quick=True))
    assert {c.impl for c in cases} == {"torch", "compiled"}
    assert all(c.baseline == "torch" for c in cases)
    assert len(cases) == 16
