"""DTN modules: streaming steps equal the parallel forward; expression and reference."""

import pytest
import torch

from prodint.nn.dtn import DTN, DTNBlock, TensorAttention


@pytest.mark.parametrize("options", [{"normalize": False}, {"normalize": True},
                                     {"normalize": True, "decay": 0.9}],
                         ids=["plain", "normalize", "normalize_decay"])
def test_tensor_attention_step_matches_forward(options: dict) -> None:
    torch.manual_seed(0)
    layer = TensorAttention(16, 4, chunk_size=4, **options).double()
    x = torch.randn(2, 11, 16, dtype=torch.float64)
    full = layer(x)
    state, rows = None, []
    for t in range(x.shape[1]):
        y, state = layer.step(x[:, t], state)
        rows.append(y)
    torch.testing.assert_close(torch.stack(rows, 1), full, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(layer(x, mode="naive"), full, rtol=1e-10, atol=1e-10)


def test_tensor_attention_expression_is_the_reference() -> None:
    torch.manual_seed(0)
    layer = TensorAttention(8, 2, normalize=False, output_norm=False).double()
    assert layer.self_interaction_order == 5
    x = torch.randn(2, 9, 8, dtype=torch.float64, requires_grad=True)
    fast, ref = layer(x), layer.reference(x)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)
    g1 = torch.autograd.grad(fast.sum(), x)[0]
    g2 = torch.autograd.grad(ref.sum(), x)[0]
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-10)


def test_output_norm_is_in_the_expression() -> None:
    """The default layer RMS-normalises each head: the expression carries it, and the
    reference evaluation equals the fast forward, values and gradients."""
    torch.manual_seed(1)
    layer = TensorAttention(8, 2).double()
    assert layer.output_norm and not layer.normalize
    assert "rmsnorm" in str(layer.expression) and layer.self_interaction_order == 5
    x = torch.randn(2, 9, 8, dtype=torch.float64, requires_grad=True)
    fast, ref = layer(x), layer.reference(x)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)
    g1, g2 = (torch.autograd.grad(y.pow(2).sum(), x)[0] for y in (fast, ref))
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-10)
    # each head's output has unit RMS before Wo (up to eps = 1e-6 against mean(o²), which is
    # about 1e-3 at the first positions)
    o = torch.linalg.lstsq(layer.interaction.params["Wo"].T, fast.detach().reshape(-1, 8).T
                           ).solution.T.reshape(2, 9, 2, 4)
    torch.testing.assert_close(o.pow(2).mean(-1), torch.ones(2, 9, 2, dtype=torch.float64),
                               rtol=0, atol=2e-3)


@pytest.mark.parametrize("mixer", ["mlp", "tensor_interaction"])
def test_block_step_matches_forward(mixer: str) -> None:
    torch.manual_seed(0)
    block = DTNBlock(16, 4, channel_mixer=mixer).double()
    assert block.self_interaction_order == (5 if mixer == "mlp" else 15)
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    full = block(x)
    state, rows = None, []
    for t in range(x.shape[1]):
        y, state = block.step(x[:, t], state)
        rows.append(y)
    torch.testing.assert_close(torch.stack(rows, 1), full, rtol=1e-9, atol=1e-9)


def test_language_model_streams_what_it_computes_in_parallel() -> None:
    torch.manual_seed(0)
    model = DTN(vocab=11, width=16, depth=2, heads=2).double()
    assert model.self_interaction_order == 25
    tokens = torch.randint(0, 11, (2, 7))
    logits = model(tokens)
    state = None
    for t in range(tokens.shape[1]):
        step_logits, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(step_logits, logits[:, t], rtol=1e-9, atol=1e-9)
    out = model.generate(tokens[:, :3], 5, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 8) and torch.equal(out[:, :3], tokens[:, :3])


@pytest.mark.parametrize("mixer", ["mlp", "tensor_interaction"])
def test_prefill_then_step_equals_the_whole_sequence(mixer: str) -> None:
    """A prompt read in parallel (chunked, T not a multiple of the chunk) hands over a state
    from which streaming continues exactly as if every token had been streamed."""
    torch.manual_seed(0)
    model = DTN(vocab=13, width=16, depth=2, heads=2, channel_mixer=mixer).double()
    for block in model.blocks:
        block.attention.chunk_size = 4
    tokens = torch.randint(0, 13, (2, 15))
    full = model(tokens)
    logits, state = model.prefill(tokens[:, :10])
    torch.testing.assert_close(logits, full[:, :10], rtol=1e-10, atol=1e-10)
    for t in range(10, 15):
        step_logits, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(step_logits, full[:, t], rtol=1e-9, atol=1e-9)
    # generate reads its prompt with prefill: the first sampled token follows full[:, 9]
    g = torch.Generator().manual_seed(5)
    out = model.generate(tokens[:, :10], 1, temperature=1e-9, generator=g)
    assert torch.equal(out[:, 10], full[:, 9].argmax(-1))


def test_bad_input() -> None:
    layer = TensorAttention(8, 2)
    with pytest.raises(ValueError, match=r"x: expected \[B, T, width\] with width 8"):
        layer(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match=r"x: expected \[B, width\]"):
        layer.step(torch.randn(2, 1, 8))
    with pytest.raises(ValueError, match="heads: expected a divisor"):
        TensorAttention(8, 3)
    with pytest.raises(ValueError, match="channel_mixer: expected"):
        DTNBlock(8, 2, channel_mixer="conv")
