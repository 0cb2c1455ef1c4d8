"""TransformerEncoderLayer: from_torch equals torch (eval) on every path (forward, general,
reference)."""

import pytest
import torch
from torch import nn

from prodint.zoo import TransformerEncoderLayer, from_torch


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "seq_first"])
def test_encoder_layer_matches_torch(norm_first: bool, activation: str,
                                     batch_first: bool) -> None:
    torch.manual_seed(0)
    module = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation=activation,
                                        batch_first=batch_first,
                                        norm_first=norm_first).double().eval()
    layer = from_torch(module).eval()
    assert layer.self_interaction_order == 3
    x0 = torch.randn((2, 6, 8) if batch_first else (6, 2, 8), dtype=torch.float64)
    padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    causal = torch.ones(6, 6, dtype=torch.bool).triu(1)
    for kwargs in ({}, {"src_key_padding_mask": padding}, {"src_mask": causal}):
        expected = module(x0, **kwargs)
        for path in (layer, layer.general, layer.reference):
            torch.testing.assert_close(path(x0, **kwargs), expected, rtol=1e-10, atol=1e-10)
    # gradients with respect to the input and every parameter
    x1, x2 = x0.clone().requires_grad_(), x0.clone().requires_grad_()
    module(x1).pow(2).sum().backward()
    layer(x2).pow(2).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(layer.param("W1").grad, module.linear1.weight.grad)
    torch.testing.assert_close(layer.param("norm2_weight").grad, module.norm2.weight.grad)


def test_bad_input_and_options() -> None:
    layer = from_torch(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True))
    with pytest.raises(ValueError, match=r"src: expected \[B, L, E\] with E = 8"):
        layer(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="activation: expected relu or gelu"):
        from_torch(nn.TransformerEncoderLayer(8, 2, 16, activation=torch.tanh))


def test_layer_norm_eps_and_masks_are_checked() -> None:
    # eps = 0 would divide a constant row by its zero variance
    with pytest.raises(ValueError, match=r"layer_norm_eps: expected a finite number > 0"):
        TransformerEncoderLayer(8, 2, 16, layer_norm_eps=0.0)
    layer = TransformerEncoderLayer(8, 2, 16, batch_first=True)
    src = torch.randn(2, 3, 8)
    with pytest.raises(TypeError, match=r"src_mask: expected dtype bool, .*received torch.int64"):
        layer(src, src_mask=torch.zeros(3, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"src_key_padding_mask: expected shape \(2, 3\) "
                                         r"\(batch and source length of src\)"):
        layer(src, src_key_padding_mask=torch.zeros(3, 3, dtype=torch.bool))
