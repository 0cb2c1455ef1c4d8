"""Tensor attention and tensor interaction as expressions (library): against their
definitions written as loops, their orders, the outer product they use, bad input."""

from __future__ import annotations

import pytest
import torch

from prodint.interaction import Contract, Rename, Signal, compile, library

OPTIONS = [(False, None, False), (False, None, True), (True, None, False), (True, 0.7, False),
           (True, None, True), (True, 0.7, True)]


def _projections(layer, x, names=("Wq", "Wk", "Wv")):
    return [x @ layer.param(n).detach() for n in names]


def _attention_loop(q, k, v, causal, gamma, normalize):
    t_len = q.shape[0]
    out = torch.zeros(t_len, v.shape[-1], dtype=q.dtype)
    for t in range(t_len):
        num, den = torch.zeros(v.shape[-1], dtype=q.dtype), 0.0
        for j in range(t_len):
            for i in range(t_len):
                if causal and not i <= j <= t:
                    continue
                w = (q[t] @ k[i]) * (q[j] @ k[i]) * (gamma ** ((t - i) + (t - j)) if gamma
                                                      else 1.0)
                num, den = num + w * v[j], den + w
        out[t] = num / den if normalize else num
    return out


@pytest.mark.parametrize("causal,decay,normalize", OPTIONS)
def test_tensor_attention_is_its_definition(causal, decay, normalize) -> None:
    torch.manual_seed(0)
    expr = library.tensor_attention(3, 2, 4, causal=causal, decay=decay, normalize=normalize)
    assert expr.self_interaction_order == 5
    layer = compile(expr, dtype=torch.float64)
    x = torch.randn(6, 3, dtype=torch.float64).abs() + 0.1  # positive: n_t away from 0
    with torch.no_grad():
        layer.param("Wq").abs_()
        layer.param("Wk").abs_()
    q, k, v = _projections(layer, x)
    expected = _attention_loop(q, k, v, causal, decay, normalize)
    torch.testing.assert_close(layer(x[None])[0], expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.reference(x[None])[0], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_tensor_interaction_is_its_definition(causal: bool) -> None:
    torch.manual_seed(1)
    expr = library.tensor_interaction(3, 2, causal=causal)
    assert expr.self_interaction_order == 5
    layer = compile(expr, dtype=torch.float64)
    x = torch.randn(5, 3, dtype=torch.float64)
    q, k, v = _projections(layer, x)
    rows = []
    for t in range(5):
        m = sum(torch.outer(q[i], k[i]) for i in range(t + 1 if causal else 5))
        rows.append(v[t] @ m @ m.T / (m * m).sum())
    expected = torch.stack(rows)
    torch.testing.assert_close(layer(x[None])[0], expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.reference(x[None])[0], expected, rtol=1e-12, atol=1e-12)


def test_contraction_over_no_axis_is_the_batched_outer_product() -> None:
    x = Signal("X", [("t", None), ("d", 3)])
    layer = compile(Contract(x, Rename(x, {"d": "f"}), over=()), dtype=torch.float64)
    u = torch.randn(2, 4, 3, dtype=torch.float64)
    expected = u.unsqueeze(-1) * u.unsqueeze(-2)
    torch.testing.assert_close(layer(u), expected, rtol=0, atol=0)
    torch.testing.assert_close(layer.reference(u), expected, rtol=0, atol=0)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="decay: expected None for non-causal attention"):
        library.tensor_attention(3, 2, 2, decay=0.9)
    q = Signal("Q", [("t", None), ("i", 2), ("d", 2)])
    with pytest.raises(ValueError, match=r"q, k, v: expected no axes named \['i'\]"):
        library.tensor_attention_of(q, q, q, causal=True)
    with pytest.raises(ValueError, match="feature: expected an axis of q"):
        library.tensor_interaction_of(q, q, q, feature="e")
    with pytest.raises(TypeError, match="causal: expected a bool"):
        library.tensor_interaction_of(q, q, q, causal=1)  # type: ignore[arg-type]
