"""Tensor interaction: naive vs chunk vs recurrent against an explicit loop; states; checks."""

import pytest
import torch

from prodint.ops.tensor_interaction import (
    TensorInteractionState,
    tensor_interaction,
    tensor_interaction_chunk,
    tensor_interaction_naive,
    tensor_interaction_recurrent,
)

FORMS = {"naive": tensor_interaction_naive, "chunk": tensor_interaction_chunk,
         "recurrent": tensor_interaction_recurrent}


def _qkv(b=2, t=13, h=3, d=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, t, h, d, generator=g, dtype=dtype) for _ in range(3))


def _loop(q, k, v, m0=None):
    """v_t M_t M_tᵀ / ‖M_t‖² with M_t summed explicitly (independent of the forms)."""
    b, t, h, d = q.shape
    out = torch.zeros_like(v)
    for bi in range(b):
        for hi in range(h):
            m = torch.zeros(d, d, dtype=q.dtype) if m0 is None else m0[bi, hi].clone()
            for s in range(t):
                m = m + torch.outer(q[bi, s, hi], k[bi, s, hi])
                out[bi, s, hi] = v[bi, s, hi] @ m @ m.T / (m * m).sum()
    return out


@pytest.mark.parametrize("length", [1, 7, 63])
def test_forms_match_the_definition_with_gradients_and_states(length: int) -> None:
    q, k, v = _qkv(b=1, t=length, h=2)
    expected = _loop(q, k, v)
    final = sum(torch.outer(q[0, s, 1], k[0, s, 1]) for s in range(length))
    results = []
    for mode, chunk in (("naive", 64), ("recurrent", 64), ("chunk", 4), ("chunk", 64)):
        inputs = [x.clone().requires_grad_() for x in (q, k, v)]
        o, state = tensor_interaction(*inputs, mode=mode, chunk_size=chunk,
                                      output_final_state=True)
        assert isinstance(state, TensorInteractionState)
        torch.testing.assert_close(o, expected, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(state.M[0, 1], final, rtol=1e-10, atol=1e-10)
        grads = torch.autograd.grad((o * o).sum() + (state.M * state.M).sum(), inputs)
        results.append(grads)
    for grads in results[1:]:
        for a, b in zip(grads, results[0], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mode", list(FORMS))
def test_initial_state_continues_the_sequence(mode: str) -> None:
    q, k, v = _qkv(t=21)
    whole, final = tensor_interaction(q, k, v, chunk_size=5, output_final_state=True)
    a, mid = tensor_interaction(q[:, :8], k[:, :8], v[:, :8], mode=mode, chunk_size=3,
                                output_final_state=True)
    b, end = tensor_interaction(q[:, 8:], k[:, 8:], v[:, 8:], initial_state=mid,
                                output_final_state=True, mode=mode, chunk_size=3)
    torch.testing.assert_close(torch.cat([a, b], 1), whole, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(end.M, final.M, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(b, _loop(q[:, 8:], k[:, 8:], v[:, 8:], mid.M), rtol=1e-10,
                               atol=1e-10)


def test_float32_agrees_with_float64() -> None:
    q, k, v = _qkv(t=40)
    ref, _ = tensor_interaction(q, k, v, mode="naive")
    for mode in FORMS:
        o32, _ = tensor_interaction(q.float(), k.float(), v.float(), mode=mode, chunk_size=16)
        assert o32.dtype == torch.float32
        torch.testing.assert_close(o32.double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["naive", "chunk"])
def test_non_causal_formula(mode: str) -> None:
    q, k, v = _qkv(t=9)
    o, state = tensor_interaction(q, k, v, causal=False, mode=mode)
    assert state is None
    qh, kh, vh = (x.transpose(1, 2) for x in (q, k, v))
    m = qh.transpose(-1, -2) @ kh
    expected = vh @ m @ m.transpose(-1, -2) / (m * m).sum((-1, -2), keepdim=True)
    torch.testing.assert_close(o, expected.transpose(1, 2), rtol=1e-12, atol=1e-12)


def test_zero_matrix_is_guarded() -> None:
    q, k, v = _qkv(t=5)
    o, _ = tensor_interaction(torch.zeros_like(q), k, v, mode="chunk")
    assert torch.equal(o, torch.zeros_like(o))


@pytest.mark.parametrize("mode", list(FORMS))
def test_every_form_checks_its_arguments(mode: str) -> None:
    form = FORMS[mode]
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="tensor interaction needs Dv = D"):
        form(q, k, v[..., :3])
    with pytest.raises(ValueError, match=r"q: expected a tensor of rank 4 \[B, T, H, D\]"):
        form(q[0], k, v)
    with pytest.raises(TypeError, match=r"^k: expected the dtype of q \(torch\.float64\)"):
        form(q, k.float(), v)
    with pytest.raises(ValueError, match=r"^initial_state\.M: expected shape \[B, H, D, D\] = "
                                         r"\[2, 3, 4, 4\] \(the sizes of q\), received "
                                         r"\(2, 3, 4\)$"):
        form(q, k, v, initial_state=TensorInteractionState(torch.zeros(2, 3, 4)))
    with pytest.raises(TypeError, match="initial_state: expected a TensorInteractionState"):
        form(q, k, v, initial_state=torch.zeros(2, 3, 4, 4))
    if mode == "recurrent":
        with pytest.raises(ValueError, match="causal: the recurrent form is causal"):
            form(q, k, v, causal=False)
    else:
        with pytest.raises(ValueError, match="expected causal=True for a streaming state"):
            form(q, k, v, causal=False, output_final_state=True)


def test_dispatcher_checks() -> None:
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="mode: expected one of"):
        tensor_interaction(q, k, v, mode="fast")
    with pytest.raises(ValueError, match="chunk_size: expected a positive int"):
        tensor_interaction(q, k, v, chunk_size=0)
