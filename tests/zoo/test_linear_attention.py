"""Linear attention: chunked causal fast path == expression == masked product by hand."""

import pytest
import torch

from prodint.zoo.linear_attention import LinearAttention


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize("length", [1, 7, 33])
def test_fast_path_equals_expression_and_hand(causal: bool, length: int, dtype, tol) -> None:
    torch.manual_seed(0)
    layer = LinearAttention(8, 2, causal=causal, chunk_size=5).to(dtype)
    assert layer.self_interaction_order == 3
    x0 = torch.randn(2, length, 8, dtype=dtype)
    b, h, d = 2, 2, 4

    def hand(x: torch.Tensor) -> torch.Tensor:
        q, k, v = ((x @ layer.param(n).T).view(b, length, h, d).transpose(1, 2)
                   for n in ("Wq", "Wk", "Wv"))
        scores = q @ k.transpose(-1, -2)
        if causal:
            scores = scores.tril()
        o = (scores @ v).transpose(1, 2).reshape(b, length, 8)
        return o @ layer.param("Wo").T

    results = []
    for fn in (layer, layer.general, layer.reference, hand):
        x = x0.clone().requires_grad_()
        out = fn(x)
        (g,) = torch.autograd.grad(out.pow(2).sum(), [x])
        results.append((out.detach(), g))
    for out, g in results[1:]:
        torch.testing.assert_close(out, results[0][0], rtol=tol, atol=tol)
        torch.testing.assert_close(g, results[0][1], rtol=tol, atol=tol)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"x: expected \[B, T, 8\]"):
        LinearAttention(8, 2)(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match="heads: expected a divisor"):
        LinearAttention(8, 3)
