"""StackedLM stacks every sequence module: forward logits == prefill + step logits, the
whole model's expression computes them and its order is the product of the blocks', and
generation runs (DTN and softmax blocks, tensor and softmax attention alone, Mamba, linear
attention, and all of them in one model)."""

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from prodint.interaction import InteractionLayer
from prodint.nn.dtn import DTNBlock, TensorAttention
from prodint.nn.softmax_lm import CausalSelfAttention, SoftmaxBlock
from prodint.nn.stacked_lm import StackedLM
from prodint.zoo.linear_attention import LinearAttention
from prodint.zoo.mamba import MambaBlock

WIDTH = 8
BLOCKS: dict[str, Callable[[], InteractionLayer]] = {
    "DTNBlock": lambda: DTNBlock(WIDTH, 2),
    "DTNBlock-tensor_interaction": lambda: DTNBlock(WIDTH, 2,
                                                    channel_mixer="tensor_interaction"),
    "SoftmaxBlock": lambda: SoftmaxBlock(WIDTH, 2),
    "TensorAttention": lambda: TensorAttention(WIDTH, 2, chunk_size=4),
    "CausalSelfAttention": lambda: CausalSelfAttention(WIDTH, 2),
    "MambaBlock-recurrent": lambda: MambaBlock(WIDTH, d_state=3, d_conv=3),
    "MambaBlock-chunk": lambda: MambaBlock(WIDTH, d_state=3, mode="chunk", chunk_size=4),
    "LinearAttention": lambda: LinearAttention(WIDTH, 2, chunk_size=4),
}


def _model(kinds: list[str]) -> StackedLM:
    torch.manual_seed(0)
    model = StackedLM(17, WIDTH, [BLOCKS[k]() for k in kinds]).double()
    with torch.no_grad():  # a visible embedding, so every block's contribution shows
        model.embed.weight.normal_()
    return model


CASES = {name: [name, name] for name in BLOCKS} | {"mixed": list(BLOCKS)}


@pytest.mark.parametrize("name", list(CASES))
def test_forward_equals_prefill_then_steps(name: str) -> None:
    model = _model(CASES[name])
    tokens = torch.randint(0, 17, (2, 11), generator=torch.Generator().manual_seed(1))
    logits = model(tokens)
    assert logits.shape == (2, 11, 17)
    head, state = model.prefill(tokens[:, :5])
    torch.testing.assert_close(head, logits[:, :5], rtol=1e-10, atol=1e-10)
    assert len(state) == len(model.blocks)
    for t in range(5, 11):
        out, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(out, logits[:, t], rtol=1e-10, atol=1e-10, msg=f"token {t}")
    state = None  # from nothing, token by token
    for t in range(11):
        out, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(out, logits[:, t], rtol=1e-10, atol=1e-10, msg=f"token {t}")


@pytest.mark.parametrize("name", list(CASES))
def test_the_expression_is_the_whole_model(name: str) -> None:
    model = _model(CASES[name])
    tokens = torch.randint(0, 17, (2, 6), generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(model.general(tokens), model(tokens), rtol=1e-10, atol=1e-10)
    # each block multiplies the order of its input: the orders of the blocks multiply
    assert model.self_interaction_order == math.prod(b.self_interaction_order
                                                     for b in model.blocks)
    keys = list(model.state_dict())
    assert len(keys) == len(model.params) == len(list(model.parameters()))
    assert keys[0] == "embed.params.E" and keys[-2:] == ["norm.params.bias",
                                                         "norm.params.weight"]


@pytest.mark.parametrize("name", ["MambaBlock-recurrent", "LinearAttention", "mixed"])
def test_generate_runs(name: str) -> None:
    model = _model(CASES[name])
    prompt = torch.randint(0, 17, (3, 4), generator=torch.Generator().manual_seed(2))
    out = model.generate(prompt, 6, generator=torch.Generator().manual_seed(3))
    assert out.shape == (3, 10) and out.dtype == prompt.dtype
    assert torch.equal(out[:, :4], prompt)
    assert bool(((out >= 0) & (out < 17)).all())
    again = model.generate(prompt, 6, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out, again)


def test_bad_blocks() -> None:
    with pytest.raises(TypeError, match=r"^blocks\[1\]: expected a sequence module with "
                                        r"prefill\(x\) and step\(x_t, state\), received "
                                        r"Linear without prefill and step"):
        StackedLM(5, WIDTH, [LinearAttention(WIDTH, 2), nn.Linear(WIDTH, WIDTH)])
    class _Streaming(nn.Linear):
        def prefill(self, x):
            return self(x), None

        def step(self, x, state=None):
            return self(x), None

    with pytest.raises(TypeError, match=r"^blocks\[0\]: expected an InteractionLayer \(a "
                                        r"layer with its expression\), received _Streaming"):
        StackedLM(5, WIDTH, [_Streaming(WIDTH, WIDTH)])
    with pytest.raises(ValueError, match=r"^blocks\[1\]: expected a block \[t, 8\] → "
                                         r"\[t, 8\] \(width=8\), received LinearAttention"):
        StackedLM(5, WIDTH, [LinearAttention(WIDTH, 2), LinearAttention(6, 2)])
    with pytest.raises(ValueError, match=r"^blocks: expected at least one block"):
        StackedLM(5, WIDTH, [])
    with pytest.raises(ValueError, match=r"^vocab: expected a positive int, received 0"):
        StackedLM(0, WIDTH, [LinearAttention(WIDTH, 2)])
