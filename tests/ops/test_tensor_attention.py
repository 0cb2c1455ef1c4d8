"""Tensor attention: naive vs chunk vs recurrent (forward, gradients, states), brute force."""

import pytest
import torch

from prodint.interaction.normalize import signed_guard
from prodint.ops.tensor_attention import (
    TensorAttentionState,
    tensor_attention,
    tensor_attention_chunk,
    tensor_attention_naive,
    tensor_attention_recurrent,
)

MODES = ["naive", "chunk", "recurrent"]


def _qkv(b=2, t=13, h=3, d=4, dv=5, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple((torch.randn(b, t, h, x, generator=g, dtype=dtype) * 0.5) for x in (d, d, dv))


def _brute(q, k, v, gamma=1.0):
    """The definition as four nested loops (independent of every form under test)."""
    b, t, h, _ = q.shape
    o = torch.zeros(b, t, h, v.shape[-1], dtype=q.dtype)
    for s in range(t):
        for j in range(s + 1):
            for i in range(j + 1):
                w = gamma ** ((s - i) + (s - j)) * (q[:, s] * k[:, i]).sum(-1) \
                    * (q[:, j] * k[:, i]).sum(-1)
                o[:, s] += w.unsqueeze(-1) * v[:, j]
    return o


@pytest.mark.parametrize("decay", [None, 0.8], ids=["no_decay", "decay"])
@pytest.mark.parametrize("mode", MODES)
def test_matches_brute_force_definition(mode: str, decay) -> None:
    q, k, v = _qkv(t=9)
    o, _ = tensor_attention(q, k, v, mode=mode, decay=decay, chunk_size=4)
    torch.testing.assert_close(o, _brute(q, k, v, 1.0 if decay is None else decay),
                               rtol=1e-10, atol=1e-10)


def _run(mode, q, k, v, **kw):
    inputs = [x.clone().requires_grad_() for x in (q, k, v)]
    o, state = tensor_attention(*inputs, mode=mode, output_final_state=True, **kw)
    w = torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view(o.shape)
    loss = (o * w).sum() + sum((s * s).sum() for s in state if s is not None)
    grads = torch.autograd.grad(loss, inputs)
    return o.detach(), [s.detach() for s in state if s is not None], grads


OPTIONS = {"plain": {}, "decay": {"decay": 0.95}, "normalize": {"normalize": True},
           "normalize_decay": {"normalize": True, "decay": 0.9}}
CASES = [(t, name) for t in (1, 63) for name in OPTIONS] + [(257, "plain")]


@pytest.mark.parametrize("length,name", CASES, ids=[f"T{t}-{n}" for t, n in CASES])
def test_modes_agree_forward_gradients_and_states(length: int, name: str) -> None:
    options = OPTIONS[name]
    q, k, v = _qkv(b=1, t=length, h=2, d=4, dv=3)
    ref = _run("naive", q, k, v, **options)
    for mode, chunk in (("chunk", 16), ("chunk", 7), ("recurrent", 0)):
        if mode == "recurrent" and length > 63:
            continue
        got = _run(mode, q, k, v, chunk_size=chunk or 64, **options)
        torch.testing.assert_close(got[0], ref[0], rtol=1e-10, atol=1e-10)
        for a, b in zip(got[1], ref[1], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
        for a, b in zip(got[2], ref[2], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("options", [{}, {"decay": 0.9}, {"normalize": True}],
                         ids=["plain", "decay", "normalize"])
def test_initial_state_continuation(mode: str, options: dict) -> None:
    q, k, v = _qkv(t=20)
    whole, final = tensor_attention(q, k, v, mode=mode, chunk_size=6,
                                    output_final_state=True, **options)
    first, mid = tensor_attention(q[:, :11], k[:, :11], v[:, :11], mode=mode, chunk_size=6,
                                  output_final_state=True, **options)
    second, end = tensor_attention(q[:, 11:], k[:, 11:], v[:, 11:], mode=mode, chunk_size=6,
                                   initial_state=mid, output_final_state=True, **options)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=1e-10, atol=1e-10)
    for a, b in zip(end, final, strict=True):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_float32_agrees() -> None:
    q, k, v = _qkv(t=40, dtype=torch.float32)
    ref, _ = tensor_attention(q.double(), k.double(), v.double(), mode="naive")
    for mode in MODES:
        o, _ = tensor_attention(q, k, v, mode=mode, chunk_size=16)
        torch.testing.assert_close(o.double(), ref, rtol=1e-4, atol=1e-4)


def test_non_causal_matrix_formula_and_normaliser() -> None:
    q, k, v = _qkv(t=11)
    for mode in ("naive", "chunk"):
        o, _ = tensor_attention(q, k, v, causal=False, mode=mode)
        qh, kh, vh = (x.transpose(1, 2) for x in (q, k, v))
        expected = qh @ (kh.transpose(-1, -2) @ kh) @ (qh.transpose(-1, -2) @ vh)
        torch.testing.assert_close(o, expected.transpose(1, 2))
        n, _ = tensor_attention(q, k, v, causal=False, mode=mode, normalize=True)
        den = qh @ (kh.transpose(-1, -2) @ kh) @ qh.sum(-2, keepdim=True).transpose(-1, -2)
        torch.testing.assert_close(n * den.transpose(1, 2).sign() * den.transpose(1, 2).abs()
                                   .clamp_min(1e-6), expected.transpose(1, 2))


def test_batch_and_head_independence() -> None:
    q, k, v = _qkv(b=3, t=10, h=4)
    o, _ = tensor_attention(q, k, v, chunk_size=4)
    o1, _ = tensor_attention(q[1:2, :, 2:3], k[1:2, :, 2:3], v[1:2, :, 2:3], chunk_size=4)
    torch.testing.assert_close(o[1:2, :, 2:3], o1)


def test_normaliser_guard_keeps_sign_and_bounds() -> None:
    from prodint.ops.tensor_attention import guard

    den = torch.tensor([-2.0, -1e-9, 0.0, 1e-9, 3.0], dtype=torch.float64)
    expected = torch.tensor([-2.0, -1e-6, 1e-6, 1e-6, 3.0], dtype=torch.float64)
    torch.testing.assert_close(guard(den, 1e-6), expected)
    # the guard the expression states divides alike
    torch.testing.assert_close(signed_guard(den, 1e-6), expected)
    with pytest.raises(ValueError, match=r"^eps: expected a finite number >= "):
        guard(den, 0.0)
    with pytest.raises(TypeError, match=r"^den: expected a torch\.Tensor"):
        guard([1.0], 1e-6)


def test_bad_inputs() -> None:
    q, k, v = _qkv()
    with pytest.raises(ValueError, match=r"q: expected a tensor of rank 4 \[B, T, H, D\]"):
        tensor_attention(q[0], k, v)
    with pytest.raises(ValueError, match="k: expected the shape of q"):
        tensor_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="mode: expected one of"):
        tensor_attention(q, k, v, mode="fast")
    with pytest.raises(ValueError, match=r"^decay: expected a finite number > 0 and <= 1, "
                                         r"received 1\.5$"):
        tensor_attention(q, k, v, decay=1.5)
    with pytest.raises(ValueError, match=r"^decay: expected values in \(0, 1\], received "
                                         r"values in \[0, 0\.5\]$"):
        tensor_attention(q, k, v, decay=torch.tensor([0.5, 0.0, 0.5], dtype=q.dtype))
    with pytest.raises(TypeError, match=r"^decay: expected None, a number in \(0, 1\] or a "
                                        r"\[H=3\] tensor, received list$"):
        tensor_attention(q, k, v, decay=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="decay: expected None for non-causal"):
        tensor_attention(q, k, v, causal=False, decay=0.9)
    zeros = {"dtype": q.dtype}
    bad = TensorAttentionState(torch.zeros(2, 3, 4, 4, **zeros), torch.zeros(2, 3, 4, 4, **zeros),
                               torch.zeros(2, 3, 4, 5, **zeros))
    with pytest.raises(ValueError, match=r"^initial_state\.C: expected shape \[B, H, D, Dv\] = "
                                         r"\[2, 3, 4, 5\] \(the sizes of q, v\), received "
                                         r"\(2, 3, 4, 4\)$"):
        tensor_attention(q, k, v, initial_state=bad)
    with pytest.raises(TypeError, match=r"^k: expected the dtype of q \(torch\.float64\)"):
        tensor_attention(q, k.float(), v)


@pytest.mark.parametrize("options", [{}, {"decay": 0.9, "normalize": True}],
                         ids=["plain", "decay_normalize"])
def test_long_sequences_run_in_segments_exactly(monkeypatch, options: dict) -> None:
    from prodint.ops.tensor_attention import chunk

    # a tiny segment budget forces several segments with the state carried between them
    monkeypatch.setattr(chunk, "SEGMENT_BYTES", 1)
    q, k, v = _qkv(t=45)
    ref = _run("naive", q, k, v, **options)
    got = _run("chunk", q, k, v, chunk_size=4, **options)
    for a, b in zip([got[0], *got[1], *got[2]], [ref[0], *ref[1], *ref[2]], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("form", [tensor_attention_naive, tensor_attention_chunk,
                                  tensor_attention_recurrent],
                         ids=["naive", "chunk", "recurrent"])
def test_every_form_checks_its_arguments(form) -> None:
    q, k, v = _qkv()
    with pytest.raises(ValueError, match=r"q: expected a tensor of rank 4 \[B, T, H, D\]"):
        form(q[0], k, v)
    with pytest.raises(ValueError, match="k: expected the shape of q"):
        form(q, k[..., :3], v)
    with pytest.raises(ValueError, match=r"^v: expected leading dims \(2, 13, 3\) \(those of q\), "
                                         r"received shape \(2, 4, 3, 5\)$"):
        form(q, k, v[:, :4])
    with pytest.raises(ValueError, match=r"^decay: expected a finite number > 0"):
        form(q, k, v, decay=0.0)
    with pytest.raises(TypeError, match=r"^v: expected the dtype of q \(torch\.float64\)"):
        form(q, k, v.float())
    with pytest.raises(TypeError, match="initial_state: expected a TensorAttentionState"):
        form(q, k, v, initial_state=(q, k, v))
    with pytest.raises(TypeError, match=r"^initial_state\.m: expected a torch\.Tensor \[B, H, D\], "
                                        r"received None$"):
        form(q, k, v, normalize=True, initial_state=TensorAttentionState(
            torch.zeros(2, 3, 4, 4, dtype=q.dtype), torch.zeros(2, 3, 4, 5, dtype=q.dtype),
            torch.zeros(2, 3, 4, 5, dtype=q.dtype)))


@pytest.mark.parametrize("mode", ["naive", "chunk", "recurrent"])
@pytest.mark.parametrize("shape", [(2, 0, 3, 4), (0, 6, 3, 4)], ids=["T=0", "B=0"])
def test_empty_rows_give_an_empty_output_and_the_initial_state(mode, shape) -> None:
    b, t, h, d = shape
    q = torch.randn(*shape, dtype=torch.float64)
    v = torch.randn(b, t, h, 5, dtype=torch.float64)
    state = TensorAttentionState(*(torch.randn(b, h, d, n, dtype=torch.float64)
                                   for n in (d, 5, 5)), torch.randn(b, h, d, dtype=torch.float64),
                                 torch.randn(b, h, d, dtype=torch.float64))
    o, final = tensor_attention(q, q, v, mode=mode, normalize=True, decay=0.5,
                                initial_state=state, output_final_state=True)
    assert o.shape == (b, t, h, 5)
    for got, given in zip(final, state, strict=True):
        assert torch.equal(got, given)
    o, fresh = tensor_attention(q, q, v, mode=mode, output_final_state=True)
    assert o.shape == (b, t, h, 5) and fresh.m is None
    assert all(torch.equal(x, torch.zeros_like(x)) for x in fresh[:3])


def test_a_strong_decay_with_a_partial_last_chunk_keeps_the_state_finite() -> None:
    """A padded last chunk ages the state by γ^pad; undoing it by γ^-pad overflowed to inf
    for γ = 1e-200 (and 0 · inf gave NaN). The partial chunk now runs on its own."""
    q, k, v = _qkv(t=7)
    for decay in (1e-200, 0.3):
        ref = tensor_attention(q, k, v, mode="naive", decay=decay, normalize=True,
                               output_final_state=True)
        got = tensor_attention(q, k, v, mode="chunk", chunk_size=3, decay=decay,
                               normalize=True, output_final_state=True)
        for a, b in zip([got[0], *got[1]], [ref[0], *ref[1]], strict=True):
            assert bool(torch.isfinite(a).all())
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("form", [tensor_attention_naive, tensor_attention_chunk,
                                  tensor_attention_recurrent],
                         ids=["naive", "chunk", "recurrent"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_rows_are_refused_by_the_forms(form, dtype) -> None:
    """The raw output sums T² products: at T = 512, |x| ~ 3 it is far above float16's
    range, so the forms refuse half precision (the dispatcher computes it in float32)."""
    q, k, v = (x.to(dtype) for x in _qkv(t=4))
    with pytest.raises(TypeError, match=rf"^q: expected dtype float32, float64, received "
                                        rf"{dtype}$"):
        form(q, k, v)


@pytest.mark.parametrize("mode", MODES)
def test_no_value_channel_with_the_normaliser_still_gives_the_state(mode) -> None:
    """Dv = 0 with ``normalize`` and a returned state: an empty output, and S, m, h (which
    never read v) equal to those of the same rows with three value channels."""
    q, k, v = _qkv(dv=3, seed=4)
    _, full = tensor_attention(q, k, v, mode=mode, chunk_size=4, normalize=True,
                               output_final_state=True)
    o, state = tensor_attention(q, k, v[..., :0], mode=mode, chunk_size=4, normalize=True,
                                output_final_state=True)
    assert o.shape == (*q.shape[:3], 0)
    assert state.C.shape == state.G.shape == (*full.C.shape[:3], 0)
    for a, b in ((state.S, full.S), (state.m, full.m), (state.h, full.h)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
