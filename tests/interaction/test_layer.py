"""The layer contract's own behaviour: parameters, reset, dtype/device, repr, bad input."""

from __future__ import annotations

import pytest
import torch

from prodint.interaction import InteractionLayer, library


def test_parameters_follow_the_expression_and_reset_redraws_them() -> None:
    layer = InteractionLayer(library.glu(4, 6), dtype=torch.float64,
                             generator=torch.Generator().manual_seed(1))
    assert set(layer.state_dict()) == {"params.W1", "params.W2"}
    assert layer.param("W1").dtype == torch.float64
    before = layer.param("W1").detach().clone()
    with torch.no_grad():
        layer.param("W1").zero_()
    layer.reset_parameters()
    after = layer.param("W1").detach()
    assert not torch.equal(after, torch.zeros_like(after))
    assert not torch.equal(after, before)  # a fresh draw, not a restore
    # N(0, 1/fan_in) with fan_in = 4: the std of many draws is about 1/2
    big = InteractionLayer(library.dense(400, 300, bias=False))
    assert abs(float(big.param("W").detach().std()) - 0.05) < 0.002


def test_general_and_reference_are_the_expression() -> None:
    layer = InteractionLayer(library.softmax_attention(4, 3, 2, causal=True),
                             dtype=torch.float64)
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    q, k, v = (x @ layer.param(n) for n in ("Wq", "Wk", "Wv"))
    scores = q @ k.transpose(-1, -2) / 3 ** 0.5
    mask = torch.ones(5, 5, dtype=torch.bool).tril()
    expected = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1) @ v
    torch.testing.assert_close(layer.general(x), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.reference(x), expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(layer(x), layer.general(x))
    with pytest.raises(NotImplementedError, match="no independent oracle"):
        layer.oracle(x)
    assert "order=3" in repr(layer)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="expression: expected an Expr"):
        InteractionLayer("Σ X W")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype: expected a floating dtype"):
        InteractionLayer(library.dense(2, 2), dtype=torch.int64)
    layer = InteractionLayer(library.dense(2, 2))
    with pytest.raises(KeyError, match="expected one of"):
        layer.param("V")
    with pytest.raises(ValueError, match="W: expected shape"):
        layer.load_tensors(W=torch.zeros(3, 3))
