"""Tensor interaction: naive vs chunk vs recurrent, the non-causal formula, states."""

import pytest
import torch

from prodint.ops.tensor_interaction import tensor_interaction


def _qkv(b=2, t=13, h=3, d=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, t, h, d, generator=g, dtype=dtype) for _ in range(3))


def _loop(q, k, v):
    """v_t M_t M_tᵀ / ‖M_t‖² with M_t summed explicitly (independent of the forms)."""
    b, t, h, d = q.shape
    out = torch.zeros_like(v)
    for bi in range(b):
        for hi in range(h):
            m = torch.zeros(d, d, dtype=q.dtype)
            for s in range(t):
                m = m + torch.outer(q[bi, s, hi], k[bi, s, hi])
                out[bi, s, hi] = v[bi, s, hi] @ m @ m.T / (m * m).sum()
    return out


@pytest.mark.parametrize("length", [1, 7, 30])
def test_forms_match_the_definition_with_gradients(length: int) -> None:
    q, k, v = _qkv(t=length)
    expected = _loop(q, k, v)
    results = []
    for mode, chunk in (("naive", 64), ("recurrent", 64), ("chunk", 4), ("chunk", 64)):
        inputs = [x.clone().requires_grad_() for x in (q, k, v)]
        o, m = tensor_interaction(*inputs, mode=mode, chunk_size=chunk, output_final_state=True)
        torch.testing.assert_close(o, expected, rtol=1e-10, atol=1e-10)
        grads = torch.autograd.grad((o * o).sum() + (m * m).sum(), inputs)
        results.append((m.detach(), grads))
    for m, grads in results[1:]:
        torch.testing.assert_close(m, results[0][0])
        for a, b in zip(grads, results[0][1], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_state_continuation_and_float32() -> None:
    q, k, v = _qkv(t=21)
    whole, final = tensor_interaction(q, k, v, chunk_size=5, output_final_state=True)
    a, mid = tensor_interaction(q[:, :8], k[:, :8], v[:, :8], output_final_state=True)
    b, end = tensor_interaction(q[:, 8:], k[:, 8:], v[:, 8:], initial_state=mid,
                                output_final_state=True, mode="recurrent")
    torch.testing.assert_close(torch.cat([a, b], 1), whole)
    torch.testing.assert_close(end, final)
    o32, _ = tensor_interaction(q.float(), k.float(), v.float(), chunk_size=5)
    torch.testing.assert_close(o32.double(), whole, rtol=1e-3, atol=1e-4)


def test_non_causal_formula() -> None:
    q, k, v = _qkv(t=9)
    o, _ = tensor_interaction(q, k, v, causal=False)
    qh, kh, vh = (x.transpose(1, 2) for x in (q, k, v))
    m = qh.transpose(-1, -2) @ kh
    expected = vh @ m @ m.transpose(-1, -2) / (m * m).sum((-1, -2), keepdim=True)
    torch.testing.assert_close(o, expected.transpose(1, 2))


def test_bad_inputs() -> None:
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="tensor interaction needs Dv = D"):
        tensor_interaction(q, k, v[..., :3])
    with pytest.raises(ValueError, match="mode: expected one of"):
        tensor_interaction(q, k, v, mode="fast")
    with pytest.raises(ValueError, match=r"initial_state: expected shape \(2, 3, 4, 4\)"):
        tensor_interaction(q, k, v, initial_state=torch.zeros(2, 3, 4))
