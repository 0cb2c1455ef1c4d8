"""The decoders (DTNBlockDecoder, StackedLMDecoder) against the checked step they replace:
outputs and states equal in float64 over many tokens for every option of the block, close in
float32, on the small and the large batch paths (the erf GELU or F.gelu, one thread or the
caller's), with the products through torch and through numpy; a token runs on one thread
and restores the caller's count, by an error too; generate gives the tokens of a
prefill-and-step loop written here; bad arguments are refused by name."""

import pytest
import torch
import torch.nn.functional as F

from prodint.nn.dtn import DTN, DTNBlock, DTNBlockDecoder, DTNBlockState, decode
from prodint.nn.softmax_lm import SoftmaxBlock, SoftmaxLM
from prodint.nn.stacked_lm import StackedLM, StackedLMDecoder

WIDTH, HEADS, VOCAB, B = 8, 2, 13, 3
OPTIONS = {
    "default": dict(),
    "normalize+decay": dict(normalize=True, decay=0.9),
    "decay, no conv": dict(decay=0.7, local_conv=0),
    "kernel 1": dict(local_conv=1),
    "no output norm": dict(output_norm=False, local_conv=3),
    "tensor interaction": dict(channel_mixer="tensor_interaction", normalize=True),
}


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _assert_states_equal(a: DTNBlockState, b: DTNBlockState, **tol) -> None:
    """Equal block states: ``S``, the combination ``S C − G`` a step reads (and its
    normaliser), the convolution's inputs and the mixer's state."""
    sa, sb = a.attention, b.attention
    torch.testing.assert_close(sa.S, sb.S, **tol)
    torch.testing.assert_close(sa.S @ sa.C - sa.G, sb.S @ sb.C - sb.G, **tol)
    if sb.m is not None:
        torch.testing.assert_close(sa.S @ sa.m[..., None] - sa.h[..., None],
                                   sb.S @ sb.m[..., None] - sb.h[..., None], **tol)
    if b.conv is not None:
        torch.testing.assert_close(a.conv, b.conv, **tol)
    if b.mixer is not None:
        for x, y in zip(a.mixer, b.mixer, strict=True):
            torch.testing.assert_close(x, y, **tol)


@pytest.mark.parametrize("products", ["torch", "numpy"])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_block_decoder_equals_the_step(name: str, products: str) -> None:
    block = DTNBlock(WIDTH, HEADS, dtype=torch.float64, generator=_g(0), **OPTIONS[name])
    x = torch.randn(B, 60, WIDTH, generator=_g(1), dtype=torch.float64)
    _, state = block.prefill(x[:, :6])
    decoder = DTNBlockDecoder(block, state, products=products)
    assert decoder.products == products
    tol = dict(rtol=1e-10, atol=1e-10)
    for t in range(6, 60):
        expected, state = block.step(x[:, t], state)
        torch.testing.assert_close(decoder(x[:, t]), expected, **tol, msg=f"token {t}")
    _assert_states_equal(decoder.state(), state, **tol)
    # the decoder's state continues in step as the step's own does
    torch.testing.assert_close(block.step(x[:, 0], decoder.state())[0],
                               block.step(x[:, 0], state)[0], **tol)


@pytest.mark.parametrize("products", ["torch", "numpy"])
def test_block_decoder_in_float32_and_from_its_own_state(products: str) -> None:
    block = DTNBlock(WIDTH, HEADS, normalize=True, decay=0.95, generator=_g(2))
    x = torch.randn(B, 40, WIDTH, generator=_g(3))
    _, state = block.prefill(x[:, :4])
    decoder = DTNBlockDecoder(block, state, products=products)
    full = block(x)
    out = [decoder(x[:, t]) for t in range(4, 20)]
    # a new decoder from the exported state
    again = DTNBlockDecoder(block, decoder.state(), products=products)
    out += [again(x[:, t]) for t in range(20, 40)]
    torch.testing.assert_close(torch.stack(out, 1), full[:, 4:], rtol=1e-4, atol=1e-4)


def test_numpy_products_for_a_wide_batch_on_the_cpu_and_fresh_outputs(monkeypatch) -> None:
    """"auto" takes numpy's products from B·width = NUMPY_WIDTH on (and then the token runs on
    one thread), torch's below; every token's output is a tensor of its own, though the
    products write buffers."""
    block = DTNBlock(WIDTH, HEADS, dtype=torch.float64, generator=_g(23))
    x = torch.randn(B, 8, WIDTH, generator=_g(24), dtype=torch.float64)
    _, state = block.prefill(x[:, :2])
    monkeypatch.setattr(decode, "SERIAL_WIDTH", 0)
    monkeypatch.setattr(decode, "NUMPY_WIDTH", B * WIDTH + 1)
    narrow = block.decoder(state)
    assert (narrow.products, narrow.serial) == ("torch", False)
    monkeypatch.setattr(decode, "NUMPY_WIDTH", B * WIDTH)
    decoder = block.decoder(state)
    assert (decoder.products, decoder.serial) == ("numpy", True)
    first = decoder(x[:, 2])
    kept = first.clone()
    second = decoder(first)  # its own output fed back
    assert second.data_ptr() != first.data_ptr() and torch.equal(first, kept)
    expected = block.step(first, block.step(x[:, 2], state)[1])[0]
    torch.testing.assert_close(second, expected, rtol=1e-10, atol=1e-10)


def _model(**options) -> DTN:
    return DTN(VOCAB, WIDTH, 2, HEADS, dtype=torch.float64, generator=_g(4), **options)


@pytest.mark.parametrize("name", ["default", "normalize+decay", "tensor interaction"])
def test_model_decoder_equals_the_step(name: str) -> None:
    model = _model(**OPTIONS[name])
    tokens = torch.randint(0, VOCAB, (B, 50), generator=_g(5))
    _, state = model.prefill(tokens[:, :5])
    decoder = StackedLMDecoder(model, state)
    for t in range(5, 50):
        expected, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(decoder(tokens[:, t]), expected, rtol=1e-10, atol=1e-10)
    for mine, theirs in zip(decoder.state(), state, strict=True):
        _assert_states_equal(mine, theirs, rtol=1e-10, atol=1e-10)


def _generate_by_step(model: StackedLM, prompt: torch.Tensor, steps: int,
                      temperature: float, generator: torch.Generator) -> torch.Tensor:
    """generate as a prefill and a loop of checked steps, sampling as documented."""
    with torch.no_grad():
        logits, state = model.prefill(prompt)
        logits, out = logits[:, -1], [prompt]
        for _ in range(steps):
            if temperature == 0.0:
                token = logits.argmax(-1, keepdim=True)
            else:
                probs = torch.softmax(logits.double() / temperature, -1)
                token = torch.multinomial(probs, 1, generator=generator)
            out.append(token)
            logits, state = model.step(token[:, 0], state)
    return torch.cat(out, 1)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("temperature", [0.0, 0.8])
@pytest.mark.parametrize("kind", ["dtn", "dtn normalize+decay", "softmax"])
def test_generate_gives_the_tokens_of_the_step_loop(kind: str, temperature: float,
                                                    dtype) -> None:
    if kind == "softmax":
        model: StackedLM = SoftmaxLM(VOCAB, WIDTH, 2, HEADS, dtype=dtype, generator=_g(6))
    else:
        options = OPTIONS["normalize+decay"] if "normalize" in kind else {}
        model = DTN(VOCAB, WIDTH, 2, HEADS, dtype=dtype, generator=_g(6), **options)
    with torch.no_grad():  # a visible embedding, so that the logits are far from uniform
        model.embed.weight.normal_(generator=_g(7))
    prompt = torch.randint(0, VOCAB, (B, 4), generator=_g(8))
    fast = model.generate(prompt, 40, temperature=temperature, generator=_g(9))
    slow = _generate_by_step(model, prompt, 40, temperature, _g(9))
    assert fast.shape == (B, 44) and torch.equal(fast, slow)


def test_a_mixed_stack_decodes_dtn_blocks_fast_and_the_others_by_step() -> None:
    blocks = [DTNBlock(WIDTH, HEADS, decay=0.9, dtype=torch.float64, generator=_g(13)),
              SoftmaxBlock(WIDTH, HEADS, dtype=torch.float64, generator=_g(14)),
              DTNBlock(WIDTH, HEADS, normalize=True, dtype=torch.float64, generator=_g(15))]
    model = StackedLM(VOCAB, WIDTH, blocks, dtype=torch.float64, generator=_g(16))
    tokens = torch.randint(0, VOCAB, (B, 30), generator=_g(17))
    _, state = model.prefill(tokens[:, :3])
    decoder = StackedLMDecoder(model, state)
    for t in range(3, 30):
        expected, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(decoder(tokens[:, t]), expected, rtol=1e-10, atol=1e-10)
    prompt = tokens[:, :4]
    assert torch.equal(model.generate(prompt, 20, temperature=0.9, generator=_g(18)),
                       _generate_by_step(model, prompt, 20, 0.9, _g(18)))


def test_half_precision_generates_through_the_step() -> None:
    model = DTN(VOCAB, WIDTH, 1, HEADS, dtype=torch.bfloat16, generator=_g(10))
    prompt = torch.randint(0, VOCAB, (2, 3), generator=_g(11))
    _, state = model.prefill(prompt)
    with pytest.raises(TypeError, match="block: expected float32 or float64"):
        model.blocks[0].decoder(state[0])
    out = model.generate(prompt, 5, temperature=0.0)
    assert torch.equal(out, _generate_by_step(model, prompt, 5, 0.0, _g(0)))


def test_bad_arguments_are_refused_by_name() -> None:
    model = _model()
    tokens = torch.randint(0, VOCAB, (B, 5), generator=_g(12))
    _, state = model.prefill(tokens)
    block = model.blocks[0]
    with pytest.raises(TypeError, match="state: expected"):
        block.decoder(tuple(state[0]))
    with pytest.raises(TypeError, match="block: expected"):
        DTNBlockDecoder(model, state[0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"state\.conv"):
        block.decoder(state[0]._replace(conv=state[0].conv[:, :1]))
    with pytest.raises(ValueError, match="products: expected one of"):
        DTNBlockDecoder(block, state[0], products="blas")
    decoder = block.decoder(state[0])
    with pytest.raises(ValueError, match=r"x_t: expected a tensor \[B, width\]"):
        decoder(torch.zeros(B + 1, WIDTH, dtype=torch.float64))
    with pytest.raises(TypeError, match="x_t: expected dtype"):
        decoder(torch.zeros(B, WIDTH))
    with pytest.raises(TypeError, match="x_t: expected a tensor"):
        decoder([0.0] * WIDTH)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="state: expected 2 block states"):
        StackedLMDecoder(model, state[:1])
    with pytest.raises(TypeError, match="model: expected"):
        StackedLMDecoder(block, state)  # type: ignore[arg-type]
    lm = StackedLMDecoder(model, state)
    with pytest.raises(ValueError, match=r"token: expected ids in \[0, vocab=13\)"):
        lm(torch.full((B,), VOCAB))
    with pytest.raises(TypeError, match="token: expected"):
        lm(torch.zeros(B))
    with pytest.raises(ValueError, match=r"token: expected ids \[B=3\]"):
        lm(torch.zeros(B + 1, dtype=torch.long))


@pytest.fixture
def two_threads():
    """Torch on two threads for the test, the runner's count restored after it."""
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(saved)


@pytest.mark.parametrize("limits", [dict(ERF_GELU_MAX=0), dict(SERIAL_WIDTH=0),
                                    dict(ERF_GELU_MAX=0, SERIAL_WIDTH=0)], ids=str)
@pytest.mark.parametrize("products", ["torch", "numpy"])
def test_the_large_batch_paths_equal_the_step(limits: dict, products: str, two_threads,
                                              monkeypatch) -> None:
    """With the limits at zero the tiny batch takes the paths of a large one: F.gelu instead
    of the erf form, the caller's threads with the norms and the GELU on one."""
    for name, value in limits.items():
        monkeypatch.setattr(decode, name, value)
    init = DTNBlockDecoder.__init__
    monkeypatch.setattr(DTNBlockDecoder, "__init__",
                        lambda self, block, state: init(self, block, state, products=products))
    model = _model(normalize=True, decay=0.9)
    tokens = torch.randint(0, VOCAB, (B, 30), generator=_g(20))
    _, state = model.prefill(tokens[:, :4])
    decoder = StackedLMDecoder(model, state)
    assert {block.products for block in decoder._blocks} == {products}
    assert decoder.serial == ("SERIAL_WIDTH" not in limits or products == "numpy")
    for t in range(4, 30):
        expected, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(decoder(tokens[:, t]), expected, rtol=1e-10, atol=1e-10)
        assert torch.get_num_threads() == 2
    for mine, theirs in zip(decoder.state(), state, strict=True):
        _assert_states_equal(mine, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("wide", [False, True])
def test_a_token_runs_its_small_kernels_on_one_thread_and_restores_the_count(
        wide: bool, two_threads, monkeypatch) -> None:
    if wide:  # every batch is large: only the norms and the GELU on one thread
        monkeypatch.setattr(decode, "SERIAL_WIDTH", 0)
    model = _model()
    tokens = torch.randint(0, VOCAB, (B, 5), generator=_g(21))
    _, state = model.prefill(tokens)
    lm, block = StackedLMDecoder(model, state), model.blocks[0].decoder(state[0])
    layer_norm, seen = F.layer_norm, []

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return layer_norm(*args, **kwargs)

    monkeypatch.setattr(F, "layer_norm", spy)
    lm(tokens[:, 0])
    block(torch.zeros(B, WIDTH, dtype=torch.float64))
    # the final norm of the model runs with the blocks: on one thread only when they all do
    assert seen == ([1, 1, 1, 1, 2, 1, 1] if wide else [1] * 7)
    assert torch.get_num_threads() == 2

    def fail(*args, **kwargs):
        raise RuntimeError("inside the token")

    monkeypatch.setattr(F, "layer_norm", fail)
    for call in (lambda: lm(tokens[:, 0]), lambda: block(torch.zeros(B, WIDTH,
                                                                        dtype=torch.float64))):
        with pytest.raises(RuntimeError, match="inside the token"):
            call()
        assert torch.get_num_threads() == 2  # restored by the error too


def test_generate_decodes_on_one_thread_and_restores_the_count(two_threads,
                                                               monkeypatch) -> None:
    model = _model()
    prompt = torch.randint(0, VOCAB, (B, 3), generator=_g(22))
    advance, seen = StackedLMDecoder.advance, []

    def spy(self, token):
        seen.append(torch.get_num_threads())
        return advance(self, token)

    monkeypatch.setattr(StackedLMDecoder, "advance", spy)
    out = model.generate(prompt, 4, temperature=0.0)
    assert seen == [1, 1, 1] and torch.get_num_threads() == 2
    assert torch.equal(out, _generate_by_step(model, prompt, 4, 0.0, _g(0)))

    def fail(self, token):
        raise RuntimeError("inside the loop")

    monkeypatch.setattr(StackedLMDecoder, "advance", fail)
    with pytest.raises(RuntimeError, match="inside the loop"):
        model.generate(prompt, 4)
    assert torch.get_num_threads() == 2
