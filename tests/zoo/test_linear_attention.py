"""Linear attention layer: every mode == expression == masked product by hand; prefill and
step stream forward; bad input (forward == general == reference on random configurations is
the registry's)."""

import pytest
import torch

from prodint.ops import LinearAttentionState
from prodint.zoo.linear_attention import LinearAttention


def _hand(layer: LinearAttention, x: torch.Tensor, causal: bool) -> torch.Tensor:
    """The masked ``T × T`` product written out with the layer's weights."""
    b, length, width = x.shape
    h, d = layer.heads, width // layer.heads
    q, k, v = ((x @ layer.param(n).T).view(b, length, h, d).transpose(1, 2)
               for n in ("Wq", "Wk", "Wv"))
    scores = q @ k.transpose(-1, -2)
    if causal:
        scores = scores.tril()
    o = (scores @ v).transpose(1, 2).reshape(b, length, width)
    return o @ layer.param("Wo").T


CASES = [(causal, mode) for causal in (True, False) for mode in ("naive", "chunk", "recurrent")
         if causal or mode != "recurrent"]


@pytest.mark.parametrize("causal,mode", CASES,
                         ids=[f"{'causal' if c else 'full'}-{m}" for c, m in CASES])
@pytest.mark.parametrize("length", [1, 7, 33])
def test_every_path_equals_the_hand_written_product(causal: bool, mode: str, length: int,
                                                    dtype, tol) -> None:
    layer = LinearAttention(8, 2, causal=causal, mode=mode, chunk_size=5, dtype=dtype,
                            generator=torch.Generator().manual_seed(0))
    assert layer.self_interaction_order == 3
    x0 = torch.randn(2, length, 8, dtype=dtype, generator=torch.Generator().manual_seed(length))
    results = []
    for fn in (lambda x: _hand(layer, x, causal), layer, layer.general, layer.reference,
               layer.oracle):
        x = x0.clone().requires_grad_()
        out = fn(x)
        grads = torch.autograd.grad(out.pow(2).sum(), [x, *layer.parameters()])
        results.append((out.detach(), grads))
    for out, grads in results[1:]:
        torch.testing.assert_close(out, results[0][0], rtol=tol, atol=tol)
        for g, g0 in zip(grads, results[0][1], strict=True):
            # gradients of Σ out² sum O(T) products: the rounding bound grows with their size
            scale = max(1.0, float(g0.abs().max()))
            torch.testing.assert_close(g, g0, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("prompt", [1, 6, 20], ids=lambda k: f"prompt{k}")
def test_prefill_then_steps_equal_forward(prompt: int, dtype, tol) -> None:
    layer = LinearAttention(12, 3, chunk_size=4, dtype=dtype,
                            generator=torch.Generator().manual_seed(1))
    x = torch.randn(2, 21, 12, dtype=dtype)
    whole = layer(x)
    head, state = layer.prefill(x[:, :prompt])
    assert isinstance(state, LinearAttentionState) and state.S.shape == (2, 3, 4, 4)
    torch.testing.assert_close(head, whole[:, :prompt], rtol=tol, atol=tol)
    for t in range(prompt, x.shape[1]):
        y_t, state = layer.step(x[:, t], state)
        torch.testing.assert_close(y_t, whole[:, t], rtol=tol, atol=tol, msg=f"token {t}")
    torch.testing.assert_close(state.S, layer.prefill(x)[1].S, rtol=tol, atol=tol)
    state = None
    for t in range(x.shape[1]):  # from an empty state
        y_t, state = layer.step(x[:, t], state)
    torch.testing.assert_close(y_t, whole[:, -1], rtol=tol, atol=tol)


def test_initialisation_and_factory_arguments() -> None:
    layer = LinearAttention(16, 4, dtype=torch.float64,
                            generator=torch.Generator().manual_seed(2))
    again = LinearAttention(16, 4, dtype=torch.float64,
                            generator=torch.Generator().manual_seed(2))
    for name in ("Wq", "Wk", "Wv", "Wo"):
        w = layer.param(name).detach()
        assert w.dtype == torch.float64 and torch.equal(w, again.param(name).detach())
        assert 0.2 < float(w.abs().max()) <= 0.25  # U(±1/√16)
    assert sorted(layer.state_dict()) == ["params.Wk", "params.Wo", "params.Wq", "params.Wv"]


def test_bad_input() -> None:
    layer = LinearAttention(8, 2)
    with pytest.raises(ValueError, match=r"^x: expected \[B, T, width=8\], received "
                                         r"shape \(2, 5, 6\)"):
        layer(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match=r"^x_t: expected a tensor of rank 2 \[B, width=8\], "
                                         r"received shape \(2, 1, 8\)"):
        layer.step(torch.randn(2, 1, 8))
    with pytest.raises(TypeError, match=r"^state: expected a LinearAttentionState"):
        layer.step(torch.randn(2, 8), torch.zeros(2, 2, 4, 4))
    with pytest.raises(ValueError, match=r"^heads: expected a divisor of width=8, received 3"):
        LinearAttention(8, 3)
    with pytest.raises(ValueError, match=r"^mode: expected one of"):
        LinearAttention(8, 2, mode="fused")
    with pytest.raises(ValueError, match=r"^mode: expected 'naive' or 'chunk' for "
                                         r"causal=False"):
        LinearAttention(8, 2, causal=False, mode="recurrent")
    full = LinearAttention(8, 2, causal=False)
    for method, arg in (("prefill", torch.randn(1, 3, 8)), ("step", torch.randn(1, 8))):
        with pytest.raises(ValueError, match=rf"^{method}: expected a causal layer"):
            getattr(full, method)(arg)
