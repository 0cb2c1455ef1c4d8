"""Both language models start from GPT-2's initialization: the same scheme, the same scales."""

import math

import pytest
import torch

from prodint.nn.dtn import DTN
from prodint.nn.softmax_lm import SoftmaxLM


@pytest.mark.parametrize("cls", [DTN, SoftmaxLM])
def test_scales(cls: type) -> None:
    torch.manual_seed(0)
    depth = 3
    model = cls(50, 96, depth, 4)
    for name, p in model.named_parameters():
        if p.dim() == 2:
            residual = name.endswith((".Wo", "mix_out.weight"))
            expected = 0.02 / math.sqrt(2 * depth) if residual else 0.02
            assert abs(float(p.detach().std()) - expected) < 0.1 * expected, name
        elif name.endswith("bias"):
            assert torch.all(p == 0), name
        else:
            assert torch.all(p == 1), name


def test_initial_predictions_are_near_uniform() -> None:
    torch.manual_seed(0)
    for model in (DTN(65, 64, 2, 4), SoftmaxLM(65, 64, 2, 4)):
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.randint(0, 65, (2, 50))), -1)
        nats = -logp.mean()
        assert abs(float(nats) - math.log(65)) < 0.05
