"""DTN modules: what the expressions state, streaming equals the parallel forward, orders,
initialisation, parameters kept by the parts, bad input.

forward == general == reference for every option (values and gradients, float64 and float32)
is the registry's test (``tests/test_families.py``, families in ``prodint.families.tensor``).
"""

import copy
import math

import pytest
import torch

from prodint.nn.dtn import DTN, DTNBlock, DTNBlockState, TensorAttention, TensorInteraction


def _grads(y: torch.Tensor, x: torch.Tensor, layer: torch.nn.Module) -> list[torch.Tensor]:
    w = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)
    return list(torch.autograd.grad((y * w).sum(), [x, *layer.parameters()]))


@pytest.mark.parametrize("options", [{}, {"normalize": True}],
                         ids=["decay", "normalize_decay"])
def test_decay_and_normalisation_are_in_the_expression(options: dict) -> None:
    # the configuration whose reference once left out decay (0.54 apart) and normalisation
    torch.manual_seed(0)
    layer = TensorAttention(16, 2, decay=0.9, **options).double()
    text = str(layer.expression)
    assert "decay_i≤t^0.9" in text and "decay_j≤t^0.9" in text
    assert ("signed_guard" in text) == bool(options)
    assert layer.self_interaction_order == 5
    x = torch.randn(2, 9, 16, dtype=torch.float64, requires_grad=True)
    fast, ref = layer(x), layer.reference(x)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)
    for a, b in zip(_grads(fast, x, layer), _grads(ref, x, layer), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_one_head_equals_the_definition_written_out() -> None:
    """o_t = Σ_{i≤j≤t} γ^{(t-i)+(t-j)} (q_t·k_i)(q_j·k_i) v_j / n_t, looped (independent of
    the expression and of the kernels)."""
    torch.manual_seed(3)
    gamma = 0.6
    layer = TensorAttention(3, 1, decay=gamma, normalize=True, output_norm=False).double()
    x = torch.randn(1, 5, 3, dtype=torch.float64).abs() + 0.1
    with torch.no_grad():
        for name in ("Wq", "Wk"):
            layer.param(name).abs_()  # positive q·k: a normaliser far from the guard
        q, k, v = (x[0] @ layer.param(n) for n in ("Wq", "Wk", "Wv"))
        rows = []
        for t in range(5):
            num, den = torch.zeros(3, dtype=torch.float64), 0.0
            for j in range(t + 1):
                for i in range(j + 1):
                    w = gamma ** ((t - i) + (t - j)) * (q[t] @ k[i]) * (q[j] @ k[i])
                    num, den = num + w * v[j], den + w
            rows.append(num / den)
        expected = torch.stack(rows) @ layer.param("Wo")
        for method in (layer, layer.general, layer.reference):
            torch.testing.assert_close(method(x)[0], expected, rtol=1e-12, atol=1e-12)


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
    torch.testing.assert_close(layer.oracle(x), full, rtol=1e-10, atol=1e-10)
    head, state = layer.prefill(x[:, :6])
    torch.testing.assert_close(head, full[:, :6], rtol=1e-10, atol=1e-10)
    for t in range(6, 11):
        y, state = layer.step(x[:, t], state)
        torch.testing.assert_close(y, full[:, t], rtol=1e-10, atol=1e-10)


def test_tensor_interaction_streams_and_has_order_five() -> None:
    torch.manual_seed(0)
    layer = TensorInteraction(12, 3, chunk_size=4).double()
    assert layer.self_interaction_order == 5
    assert TensorInteraction(12, 3, causal=False).self_interaction_order == 5
    x = torch.randn(2, 9, 12, dtype=torch.float64)
    full = layer(x)
    y, state = layer.prefill(x[:, :4])
    rows = [y]
    for t in range(4, 9):
        y, state = layer.step(x[:, t], state)
        rows.append(y.unsqueeze(1))
    torch.testing.assert_close(torch.cat(rows, 1), full, rtol=1e-10, atol=1e-10)


def test_output_norm_is_in_the_expression() -> None:
    """The default layer RMS-normalises each head: the expression carries it."""
    torch.manual_seed(1)
    layer = TensorAttention(8, 2).double()
    assert layer.output_norm and not layer.normalize
    assert "rmsnorm" in str(layer.expression) and layer.self_interaction_order == 5
    x = torch.randn(2, 9, 8, dtype=torch.float64)
    fast = layer(x)
    torch.testing.assert_close(fast, layer.reference(x), rtol=1e-10, atol=1e-10)
    # each head's output has unit RMS before Wo (up to eps = 1e-6 against mean(o²), which is
    # about 1e-3 at the first positions)
    o = torch.linalg.lstsq(layer.param("Wo").detach().T, fast.detach().reshape(-1, 8).T
                           ).solution.T.reshape(2, 9, 2, 4)
    torch.testing.assert_close(o.pow(2).mean(-1), torch.ones(2, 9, 2, dtype=torch.float64),
                               rtol=0, atol=2e-3)


@pytest.mark.parametrize("mixer,order", [("mlp", 5), ("tensor_interaction", 25)])
def test_block_order_is_derived_and_step_matches_forward(mixer: str, order: int) -> None:
    torch.manual_seed(0)
    block = DTNBlock(16, 4, channel_mixer=mixer).double()
    # z = x + TA(·) has order 5; the MLP keeps it, tensor interaction multiplies it by 5
    assert block.self_interaction_order == block.expression.self_interaction_order == order
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    full = block(x)
    state, rows = None, []
    for t in range(x.shape[1]):
        y, state = block.step(x[:, t], state)
        rows.append(y)
    assert isinstance(state, DTNBlockState) and (state.mixer is None) == (mixer == "mlp")
    torch.testing.assert_close(torch.stack(rows, 1), full, rtol=1e-9, atol=1e-9)


def test_language_model_streams_what_it_computes_in_parallel() -> None:
    torch.manual_seed(0)
    model = DTN(vocab=11, width=16, depth=2, heads=2).double()
    assert model.self_interaction_order == 25  # 5 per block, composed
    assert DTN(11, 8, 2, 2, channel_mixer="tensor_interaction").self_interaction_order == 625
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
    model = DTN(vocab=13, width=16, depth=2, heads=2, channel_mixer=mixer,
                chunk_size=4).double()
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


def test_query_and_key_scaling_survives_every_initialisation() -> None:
    """Documented: Wq, Wk ~ N(0, 1/(width·d)), applied by TensorAttention.reset_parameters,
    in a layer of its own and inside a DTN (whose model-level init adds only the embedding
    scale and the depth scaling of Wo)."""
    torch.manual_seed(0)
    width, heads, depth = 128, 4, 2
    expected = 1.0 / math.sqrt(width * (width // heads))  # 0.0156, not GPT-2's 0.02
    layer = TensorAttention(width, heads)
    model = DTN(65, width, depth, heads)
    for attention in (layer, *(b.attention for b in model.blocks)):
        for name in ("Wq", "Wk"):
            assert abs(float(attention.param(name).detach().std()) - expected) < 0.05 * expected
        assert abs(float(attention.param("Wv").detach().std()) - width ** -0.5) < 0.05 * \
            width ** -0.5
    wo = model.blocks[0].attention.param("Wo").detach().std()
    assert abs(float(wo) - (width * 2 * depth) ** -0.5) < 0.05 * (width * 2 * depth) ** -0.5
    with torch.no_grad():
        layer.param("Wq").fill_(1.0)
    layer.reset_parameters()
    assert abs(float(layer.param("Wq").detach().std()) - expected) < 0.05 * expected


def test_parameters_live_in_the_parts_and_the_expression_reads_them() -> None:
    torch.manual_seed(0)
    model = DTN(11, 8, 1, 2).double()
    keys = list(model.state_dict())
    assert "blocks.0.attention.params.Wq" in keys and "embed.params.E" in keys
    assert len(keys) == len(set(keys)) == len(model.params) == len(list(model.parameters()))
    assert model.params["block0_attention_Wq"] is model.blocks[0].attention.param("Wq")
    tokens = torch.randint(0, 11, (1, 5))
    before = model.general(tokens)
    with torch.no_grad():
        model.blocks[0].attention.param("Wv").mul_(2.0)
    after = model.general(tokens)
    assert not torch.allclose(before, after)  # no copy: the expression runs on the part
    torch.testing.assert_close(after, model(tokens), rtol=1e-10, atol=1e-10)
    clone = DTN(11, 8, 1, 2).double()
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(clone.general(tokens), after, rtol=0, atol=0)


def test_bad_input() -> None:
    layer = TensorAttention(8, 2)
    with pytest.raises(ValueError, match=r"x: expected \[B, T, width=8\]"):
        layer(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match=r"x_t: expected a tensor of rank 2 \[B, width=8\]"):
        layer.step(torch.randn(2, 1, 8))
    with pytest.raises(ValueError, match="heads: expected a divisor"):
        TensorAttention(8, 3)
    with pytest.raises(ValueError, match=r"^decay: expected a finite number > 0 and <= 1, "
                                         r"received 1\.5$"):
        TensorAttention(8, 2, decay=1.5)
    with pytest.raises(ValueError, match="decay: expected None for a non-causal layer"):
        TensorAttention(8, 2, causal=False, decay=0.9)
    with pytest.raises(ValueError, match="prefill: expected a causal layer"):
        TensorAttention(8, 2, causal=False).prefill(torch.randn(1, 3, 8))
    # tensor interaction shares the checks and the streaming of tensor attention
    with pytest.raises(ValueError, match="heads: expected a divisor of width=8, received 3"):
        TensorInteraction(8, 3)
    with pytest.raises(ValueError, match="chunk_size: expected a positive int, received 0"):
        TensorInteraction(8, 2, chunk_size=0)
    with pytest.raises(TypeError, match="causal: expected a bool, received 1"):
        TensorInteraction(8, 2, causal=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step: expected a causal layer"):
        TensorInteraction(8, 2, causal=False).step(torch.randn(1, 8))
    with pytest.raises(ValueError, match=r"x: expected \[B, T, width=8\]"):
        TensorInteraction(8, 2).general(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match="channel_mixer: expected one of"):
        DTNBlock(8, 2, channel_mixer="conv")
    with pytest.raises(TypeError, match="state: expected a DTNBlockState"):
        DTNBlock(8, 2).step(torch.randn(1, 8), (None, None, None))
    model = DTN(11, 8, 1, 2)
    with pytest.raises(ValueError, match=r"tokens: expected ids in \[0, vocab=11\)"):
        model(torch.tensor([[3, 11]]))
    with pytest.raises(TypeError, match=r"^tokens: expected dtype int32, int64, received "
                                        r"torch\.float32$"):
        model.general(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="state: expected 1 block states, received 2"):
        model.step(torch.tensor([1]), [None, None])  # type: ignore[list-item]


def test_sizes_and_generation_arguments_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"^vocab: expected a positive int, received 0$"):
        DTN(0)
    with pytest.raises(ValueError, match=r"^depth: expected a positive int, received -1$"):
        DTN(11, 8, -1, 2)
    with pytest.raises(TypeError, match=r"^depth: expected an int, received 2\.0$"):
        DTN(11, 8, 2.0, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^width: expected a size for which a block fits in .*, "
                                         r"received one that would need about 48\.0 TiB$"):
        DTN(11, 2**20, 1, 2)
    with pytest.raises(ValueError, match=r"^eps: expected a finite number >= 1\.17549e-38"):
        TensorAttention(8, 2, eps=0.0)
    with pytest.raises(ValueError, match=r"^device: expected a device such as 'cpu' or "
                                         r"'cuda:0', received 'no-such-device'"):
        TensorAttention(8, 2, device="no-such-device")
    model = DTN(11, 8, 1, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    prompt = torch.tensor([[1, 2, 3]])
    with pytest.raises(ValueError, match=r"^steps: expected an int >= 0, received -3$"):
        model.generate(prompt, -3)
    with pytest.raises(ValueError, match=r"^prompt: expected at least one token"):
        model.generate(prompt[:, :0], 2)
    with pytest.raises(ValueError, match=r"^temperature: expected a finite number >= 0"):
        model.generate(prompt, 2, temperature=float("nan"))
    assert torch.equal(model.generate(prompt, 0), prompt)  # nothing to sample
    greedy = model.generate(prompt, 4, temperature=0.0)
    assert greedy.shape == (1, 7) and torch.equal(greedy, model.generate(prompt, 4,
                                                                        temperature=0.0))
    assert torch.equal(greedy[:, 3], model(prompt)[:, -1].argmax(-1))


@pytest.mark.parametrize("layer", [TensorAttention, TensorInteraction])
def test_half_precision_layers_accumulate_in_float32(layer) -> None:
    """T = 512 with |x| ~ 3: the operator's sums over the sequence overflow float16 (inf
    before), so the layer runs the operator in float32 and returns float16 close to the
    float32 layer."""
    full = layer(16, 2, generator=torch.Generator().manual_seed(0))
    half = copy.deepcopy(full).half()
    x = 3 * torch.randn(1, 512, 16, generator=torch.Generator().manual_seed(1))
    y = half(x.half())
    assert y.dtype == torch.float16 and bool(torch.isfinite(y).all())
    reference = full(x.half().float())
    scale = float(reference.abs().max())
    torch.testing.assert_close(y.float(), reference, rtol=0, atol=2e-2 * scale)
    y_t, state = half.step(x[:, 0].half())
    assert y_t.dtype == torch.float16 and state[0].dtype == torch.float32


def test_an_empty_sequence_gives_empty_logits() -> None:
    model = DTN(11, 8, 1, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    logits = model(torch.zeros(2, 0, dtype=torch.long))
    assert logits.shape == (2, 0, 11)
