"""Linear attention: every form and the step against a brute-force oracle (values, gradients,
final states), continuation from a state, and argument checks in every public form."""

import pytest
import torch

from prodint.ops import LinearAttentionState, linear_attention, linear_attention_step
from prodint.ops.linear_attention import (
    linear_attention_chunk,
    linear_attention_naive,
    linear_attention_recurrent,
)

TOL = {torch.float64: 1e-10, torch.float32: 1e-4}


def _rows(b=2, t=13, h=3, d=4, dv=5, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(b, t, h, x, generator=g, dtype=torch.float64) * 0.5
               for x in (d, d, dv))
    s0 = torch.randn(b, h, d, dv, generator=g, dtype=torch.float64)
    return [x.to(dtype) for x in (q, k, v, s0)]


def _brute(q, k, v, s0=None, causal=True):
    """The definition as loops over (t, s), and the final state as a sum of outer products."""
    b, t, h, _ = q.shape
    o = [torch.zeros(b, h, v.shape[-1], dtype=q.dtype) for _ in range(t)]
    for i in range(t):
        for s in range(i + 1 if causal else t):
            o[i] = o[i] + (q[:, i] * k[:, s]).sum(-1, keepdim=True) * v[:, s]
        if s0 is not None:
            o[i] = o[i] + (q[:, i].unsqueeze(-1) * s0).sum(-2)
    final = torch.zeros(b, h, q.shape[-1], v.shape[-1], dtype=q.dtype) if s0 is None else s0
    for s in range(t):
        final = final + k[:, s].unsqueeze(-1) * v[:, s].unsqueeze(-2)
    return torch.stack(o, 1), final


def _stepped(q, k, v, initial_state=None, causal=True, output_final_state=False):
    """The sequence fed token by token through :func:`linear_attention_step`."""
    assert causal
    state, outs = initial_state, []
    for t in range(q.shape[1]):
        o, state = linear_attention_step(q[:, t], k[:, t], v[:, t], state)
        outs.append(o)
    return torch.stack(outs, 1), state


FORMS = {
    "naive": lambda *a, **kw: linear_attention(*a, mode="naive", **kw),
    "chunk16": lambda *a, **kw: linear_attention(*a, mode="chunk", chunk_size=16, **kw),
    "chunk7": lambda *a, **kw: linear_attention(*a, mode="chunk", chunk_size=7, **kw),
    "chunk64": lambda *a, **kw: linear_attention(*a, mode="chunk", chunk_size=64, **kw),
    "recurrent": lambda *a, **kw: linear_attention(*a, mode="recurrent", **kw),
    "step": _stepped,
}


def _loss_and_grads(fn, values, start: bool):
    inputs = [x.clone().requires_grad_() for x in values]
    q, k, v, s0 = inputs
    if fn is _brute:
        o, final = _brute(q, k, v, s0 if start else None)
    else:
        o, state = fn(q, k, v, initial_state=LinearAttentionState(s0) if start else None,
                      output_final_state=True)
        assert isinstance(state, LinearAttentionState)
        final = state.S
    w = torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view(o.shape)
    loss = (o * w).sum() + (final * final.detach().sign()).sum()
    grads = torch.autograd.grad(loss, inputs if start else inputs[:3])
    return o.detach(), final.detach(), grads


@pytest.mark.parametrize("start", [False, True], ids=["zeros", "initial_state"])
@pytest.mark.parametrize("length", [1, 2, 63], ids=lambda t: f"T{t}")
@pytest.mark.parametrize("form", list(FORMS))
def test_forms_equal_brute_force_values_gradients_and_state(form: str, length: int,
                                                            start: bool, dtype) -> None:
    values = _rows(b=2, t=length, h=2, d=3, dv=4)
    o0, s0, g0 = _loss_and_grads(_brute, values, start)
    o, s, g = _loss_and_grads(FORMS[form], [x.to(dtype) for x in values], start)
    tol = TOL[dtype]
    assert o.dtype == s.dtype == dtype
    torch.testing.assert_close(o.double(), o0, rtol=tol, atol=tol, msg="output")
    torch.testing.assert_close(s.double(), s0, rtol=tol, atol=tol, msg="final state")
    assert len(g) == len(g0) == (4 if start else 3)
    for name, a, b in zip(["q", "k", "v", "initial_state"], g, g0, strict=False):
        torch.testing.assert_close(a.double(), b, rtol=tol, atol=tol, msg=f"gradient of {name}")


@pytest.mark.parametrize("form", ["chunk16", "chunk7", "recurrent", "step"])
def test_long_odd_sequence_equals_naive(form: str) -> None:
    values = _rows(b=1, t=257, h=2, d=4, dv=3)
    ref = _loss_and_grads(FORMS["naive"], values, True)
    got = _loss_and_grads(FORMS[form], values, True)
    for a, b in zip((got[0], got[1], *got[2]), (ref[0], ref[1], *ref[2]), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["naive", "chunk"])
@pytest.mark.parametrize("length", [1, 63])
def test_non_causal_equals_brute_force(mode: str, length: int) -> None:
    q, k, v, _ = _rows(t=length)
    o, state = linear_attention(q, k, v, causal=False, mode=mode, chunk_size=8)
    assert state is None
    torch.testing.assert_close(o, _brute(q, k, v, causal=False)[0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("form", ["naive", "chunk7", "recurrent", "step"])
def test_initial_state_continues_a_sequence(form: str) -> None:
    q, k, v, _ = _rows(t=21)
    fn = FORMS[form]
    whole, final = fn(q, k, v, output_final_state=True)
    first, mid = fn(q[:, :8], k[:, :8], v[:, :8], output_final_state=True)
    second, end = fn(q[:, 8:], k[:, 8:], v[:, 8:], initial_state=mid, output_final_state=True)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(end.S, final.S, rtol=1e-12, atol=1e-12)


def test_empty_sequence_keeps_the_state() -> None:
    q, k, v, s0 = _rows(t=0)
    for mode in ("naive", "chunk", "recurrent"):
        o, state = linear_attention(q, k, v, mode=mode, initial_state=LinearAttentionState(s0),
                                    output_final_state=True)
        assert o.shape == (2, 0, 3, 5)
        torch.testing.assert_close(state.S, s0, rtol=0, atol=0)


SEQUENCE_FORMS = {
    "dispatcher": linear_attention,
    "naive": linear_attention_naive,
    "chunk": linear_attention_chunk,
    "recurrent": linear_attention_recurrent,
}


@pytest.mark.parametrize("form", list(SEQUENCE_FORMS))
def test_every_form_checks_its_arguments(form: str) -> None:
    fn = SEQUENCE_FORMS[form]
    q, k, v, s0 = _rows(b=2, t=5, h=3, d=4, dv=5)
    with pytest.raises(ValueError, match=r"^q: expected a tensor of rank 4 \[B, T, H, D\], "
                                         r"received shape \(2, 5, 12\)"):
        fn(q.flatten(-2), k, v)
    with pytest.raises(TypeError, match=r"^k: expected a torch\.Tensor \[B, T, H, D\], "
                                        r"received list"):
        fn(q, [1.0], v)
    with pytest.raises(ValueError, match=r"^k: expected the shape of q \(2, 5, 3, 4\), "
                                         r"received \(2, 5, 3, 5\)"):
        fn(q, v, v)
    with pytest.raises(ValueError, match=r"^v: expected leading dims \(2, 5, 3\) \(those of q\), "
                                         r"received shape \(2, 4, 3, 5\)"):
        fn(q, k, v[:, :4])
    with pytest.raises(TypeError, match=r"^k: expected the dtype of q \(torch\.float64\), "
                                        r"received torch\.float32$"):
        fn(q, k.float(), v)
    with pytest.raises(ValueError, match=r"^initial_state\.S: expected shape \[B, H, D, Dv\] = "
                                         r"\[2, 3, 4, 5\] \(the sizes of q, v\), received "
                                         r"\(2, 3, 5, 4\)"):
        fn(q, k, v, initial_state=LinearAttentionState(s0.transpose(-1, -2)))
    with pytest.raises(TypeError, match=r"^initial_state: expected a LinearAttentionState or None, "
                                        r"received Tensor"):
        fn(q, k, v, initial_state=s0)
    with pytest.raises(TypeError, match=r"^initial_state\.S: expected dtype torch\.float64"):
        fn(q, k, v, initial_state=LinearAttentionState(s0.float()))


@pytest.mark.parametrize("form", ["dispatcher", "naive", "chunk"])
def test_non_causal_refuses_a_streaming_state(form: str) -> None:
    q, k, v, s0 = _rows(t=4)
    with pytest.raises(ValueError, match=r"^initial_state/output_final_state: expected "
                                         r"causal=True"):
        SEQUENCE_FORMS[form](q, k, v, causal=False, output_final_state=True)
    with pytest.raises(ValueError, match=r"^initial_state/output_final_state"):
        SEQUENCE_FORMS[form](q, k, v, causal=False, initial_state=LinearAttentionState(s0))


def test_recurrent_is_causal_mode_and_chunk_size_are_checked() -> None:
    q, k, v, _ = _rows(t=4)
    with pytest.raises(ValueError, match=r"^causal: the recurrent form is causal"):
        linear_attention(q, k, v, causal=False, mode="recurrent")
    with pytest.raises(ValueError, match=r"^mode: expected one of 'naive', 'chunk', "
                                         r"'recurrent', received 'fused'"):
        linear_attention(q, k, v, mode="fused")
    for form in (linear_attention, linear_attention_chunk):
        with pytest.raises(ValueError, match=r"^chunk_size: expected a positive int"):
            form(q, k, v, chunk_size=0)
        for bad in (1.5, True):
            with pytest.raises(TypeError, match=r"^chunk_size: expected an int"):
                form(q, k, v, chunk_size=bad)


def test_step_checks_its_arguments() -> None:
    q, k, v, s0 = _rows(b=2, t=1, h=3, d=4, dv=5)
    q, k, v = q[:, 0], k[:, 0], v[:, 0]
    with pytest.raises(ValueError, match=r"^q_t: expected a tensor of rank 3 \[B, H, D\], "
                                         r"received shape \(2, 1, 3, 4\)"):
        linear_attention_step(q.unsqueeze(1), k, v)
    with pytest.raises(ValueError, match=r"^v_t: expected leading dims \(2, 3\)"):
        linear_attention_step(q, k, v[:1])
    with pytest.raises(ValueError, match=r"^state\.S: expected shape \[B, H, D, Dv\] = "
                                         r"\[2, 3, 4, 5\] \(the sizes of q_t, v_t\), "
                                         r"received \(2, 3, 4, 4\)"):
        linear_attention_step(q, k, v, LinearAttentionState(s0[..., :4]))
    with pytest.raises(TypeError, match=r"^state: expected a LinearAttentionState or None, "
                                        r"received tuple"):
        linear_attention_step(q, k, v, (s0,))
