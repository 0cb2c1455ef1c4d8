"""The softmax baseline LM: streaming with the key/value cache equals the parallel forward,
its attention equals a written-out softmax, and it matches the DTN's size exactly."""

import math

import pytest
import torch

from prodint.nn.dtn import DTN
from prodint.nn.softmax_lm import CausalSelfAttention, SoftmaxBlock, SoftmaxLM


def test_attention_is_causal_softmax() -> None:
    torch.manual_seed(0)
    att = CausalSelfAttention(12, 3).double()
    x = torch.randn(2, 9, 12, dtype=torch.float64)
    q, k, v = ((x @ att.param(w)).view(2, 9, 3, 4).transpose(1, 2) for w in ("Wq", "Wk", "Wv"))
    scores = q @ k.transpose(-1, -2) / math.sqrt(4)
    scores = scores.masked_fill(torch.ones(9, 9).triu(1).bool(), float("-inf"))
    expected = (scores.softmax(-1) @ v).transpose(1, 2).reshape(2, 9, 12) @ att.param("Wo")
    for path in (att, att.general, att.reference):
        torch.testing.assert_close(path(x), expected, rtol=1e-12, atol=1e-12)
    assert att.self_interaction_order == 3
    assert sorted(att.state_dict()) == ["params.Wk", "params.Wo", "params.Wq", "params.Wv"]


def test_step_streams_forward_past_the_cache_capacity() -> None:
    torch.manual_seed(1)
    model = SoftmaxLM(20, 16, 2, 4).double()
    tokens = torch.randint(0, 20, (3, 37))  # the cache's buffer doubles twice (16 → 64)
    logits = model(tokens)
    state = None
    for t in range(tokens.shape[1]):
        out, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(out, logits[:, t], rtol=1e-10, atol=1e-10)
    assert state[0][0][1] == 37 and state[0][0][0].shape[3] == 64


def test_prefill_then_step_equals_the_whole_sequence() -> None:
    torch.manual_seed(2)
    model = SoftmaxLM(20, 16, 2, 4).double()
    tokens = torch.randint(0, 20, (2, 40))
    full = model(tokens)
    logits, state = model.prefill(tokens[:, :17])  # capacity 32, then doubled to 64
    torch.testing.assert_close(logits, full[:, :17], rtol=1e-10, atol=1e-10)
    assert state[0][0][1] == 17 and state[0][0][0].shape[3] == 32
    for t in range(17, 40):
        out, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(out, full[:, t], rtol=1e-10, atol=1e-10)
    assert state[0][0][0].shape[3] == 64


def test_branches_from_one_cache_do_not_overwrite_each_other() -> None:
    torch.manual_seed(3)
    model = SoftmaxLM(20, 16, 2, 4).double()
    prompt = torch.randint(0, 20, (2, 5))
    _, parent = model.prefill(prompt)
    a, b = torch.tensor([1, 2]), torch.tensor([7, 9])
    _, state_a = model.step(a, parent)
    _, state_b = model.step(b, parent)  # the same position of the same parent
    next_a, _ = model.step(torch.tensor([3, 4]), state_a)
    full_a = model(torch.cat([prompt, a[:, None], torch.tensor([[3], [4]])], 1))[:, -1]
    torch.testing.assert_close(next_a, full_a, rtol=1e-10, atol=1e-10)
    next_b, _ = model.step(torch.tensor([3, 4]), state_b)
    full_b = model(torch.cat([prompt, b[:, None], torch.tensor([[3], [4]])], 1))[:, -1]
    torch.testing.assert_close(next_b, full_b, rtol=1e-10, atol=1e-10)
    assert state_a[0][0][0] is not state_b[0][0][0]  # the second branch copied the buffer


def test_attention_bad_input() -> None:
    att = CausalSelfAttention(12, 3)
    with pytest.raises(ValueError, match=r"^x: expected \[B, T, width=12\], received "
                                         r"shape \(2, 9, 8\)"):
        att(torch.zeros(2, 9, 8))
    with pytest.raises(ValueError, match=r"^x_t: expected a tensor of rank 2 \[B, width=12\]"):
        att.step(torch.zeros(2, 1, 12))
    with pytest.raises(ValueError, match=r"^heads: expected a divisor of width=12, received 5"):
        CausalSelfAttention(12, 5)
    with pytest.raises(TypeError, match=r"^state: expected a SoftmaxBlockState or None, "
                                        r"received tuple"):
        SoftmaxBlock(12, 3).step(torch.zeros(2, 12), (None, None))
    with pytest.raises(ValueError, match=r"^x: expected \[B, T, width=12\]"):
        SoftmaxBlock(12, 3).general(torch.zeros(2, 5, 8))
    with pytest.raises(ValueError, match=r"^local_conv: expected an int >= 0, received -1"):
        SoftmaxBlock(12, 3, local_conv=-1)


def test_same_size_as_the_dtn() -> None:
    for width, depth, heads in ((32, 1, 2), (128, 2, 4)):
        dtn, softmax = DTN(65, width, depth, heads), SoftmaxLM(65, width, depth, heads)
        shapes = sorted(tuple(p.shape) for p in dtn.parameters())
        assert shapes == sorted(tuple(p.shape) for p in softmax.parameters())
        # the same layout: only the token mixer's parameters differ in name
        assert [k for k in dtn.state_dict() if ".attention." not in k] == \
            [k for k in softmax.state_dict() if ".attention." not in k]
        assert softmax.self_interaction_order == 3 ** depth
