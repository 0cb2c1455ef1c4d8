"""Suite ``zoo``: each family is paired with its torch baseline and both compute the same."""

import torch

from prodint.bench import zoo_suite
from prodint.zoo.survey import FAMILIES


def test_cases_pair_prodint_with_torch() -> None:
    cases = list(zoo_suite.family_cases(FAMILIES[0], "cpu"))
    assert [c.impl for c in cases] == ["torch", "prodint"]
    torch.testing.assert_close(cases[1].forward(), cases[0].forward(), rtol=1e-5, atol=1e-5)
    cases[1].forward_backward()  # runs backward without error
