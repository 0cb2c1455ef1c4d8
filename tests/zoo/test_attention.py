"""Multi-head attention: from_torch equals nn.MultiheadAttention on every path (forward,
general, reference), values, weights and gradients."""

import pytest
import torch
from torch import nn

from prodint.zoo import MultiheadAttention, from_torch


def _inputs(batch_first: bool, b=2, length=5, source=7, e=8, kdim=8, vdim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (lambda n, f: (b, n, f)) if batch_first else (lambda n, f: (n, b, f))
    q = torch.randn(*shape(length, e), generator=g, dtype=torch.float64)
    k = torch.randn(*shape(source, kdim), generator=g, dtype=torch.float64)
    v = torch.randn(*shape(source, vdim), generator=g, dtype=torch.float64)
    return q, k, v


def _compare(module: nn.MultiheadAttention, q, k, v, **kwargs) -> None:
    module.eval()
    layer = from_torch(module)
    assert layer.self_interaction_order == 3
    params_t = list(module.parameters())
    params_p = list(layer.parameters())
    for path in ("forward", "general", "reference"):
        results = []
        for fn, params in ((module, params_t),
                           (layer if path == "forward" else getattr(layer, path), params_p)):
            inputs = [t.clone().requires_grad_() for t in (q, k, v)]
            out, weights = fn(*inputs, **kwargs)
            w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view(out.shape)
            loss = (out * w).sum()
            grads = torch.autograd.grad(loss, [*inputs, *params])
            results.append((out, weights, grads))
        (o1, w1, g1), (o2, w2, g2) = results
        torch.testing.assert_close(o2, o1, rtol=1e-10, atol=1e-10)
        if w1 is None:
            assert w2 is None
        else:
            torch.testing.assert_close(w2, w1, rtol=1e-10, atol=1e-10)
        for a, b in zip(g2[:3], g1[:3], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
        # parameter gradients: torch packs q, k, v in in_proj_weight
        total_t = sum(float(g.abs().sum()) for g in g1[3:])
        total_p = sum(float(g.abs().sum()) for g in g2[3:])
        assert abs(total_t - total_p) < 1e-8 * max(1.0, total_t)


@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "seq_first"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_self_and_cross_attention(batch_first: bool, bias: bool) -> None:
    torch.manual_seed(0)
    module = nn.MultiheadAttention(8, 2, bias=bias, batch_first=batch_first).double()
    q, k, v = _inputs(batch_first)
    _compare(module, q, k, v)
    _compare(module, q, q, q, need_weights=False)


def test_kdim_vdim_and_per_head_weights() -> None:
    torch.manual_seed(1)
    module = nn.MultiheadAttention(8, 4, kdim=5, vdim=3, batch_first=True).double()
    q, k, v = _inputs(True, kdim=5, vdim=3)
    _compare(module, q, k, v, average_attn_weights=False)


def test_masks() -> None:
    torch.manual_seed(2)
    module = nn.MultiheadAttention(8, 2, batch_first=True).double()
    q, k, v = _inputs(True, length=6, source=6)
    padding = torch.tensor([[False] * 5 + [True], [False] * 4 + [True] * 2])
    causal = torch.ones(6, 6, dtype=torch.bool).triu(1)
    _compare(module, q, k, v, key_padding_mask=padding)
    _compare(module, q, k, v, attn_mask=causal)
    padding_float = torch.zeros(2, 6, dtype=torch.float64).masked_fill(padding, float("-inf"))
    _compare(module, q, k, v, attn_mask=torch.randn(4, 6, 6, dtype=torch.float64),
             key_padding_mask=padding_float)
    _compare(module, q, k, v, attn_mask=causal, is_causal=True)


def test_unbatched_input() -> None:
    torch.manual_seed(3)
    module = nn.MultiheadAttention(8, 2).double().eval()
    layer = from_torch(module)
    x = torch.randn(5, 8, dtype=torch.float64)
    out, weights = module(x, x, x)
    for path in (layer, layer.general, layer.reference):
        ours, our_weights = path(x, x, x)
        torch.testing.assert_close(ours, out)
        torch.testing.assert_close(our_weights, weights)


def test_torch_argument_order() -> None:
    # the masks and flags are positional as in torch: (q, k, v, key_padding_mask,
    # need_weights, attn_mask, average_attn_weights, is_causal)
    torch.manual_seed(4)
    module = nn.MultiheadAttention(8, 2, batch_first=True).double().eval()
    layer = from_torch(module)
    q, k, v = _inputs(True, length=4, source=4)
    padding = torch.tensor([[False] * 3 + [True], [False] * 4])
    expected = module(q, k, v, padding, True, None, False)
    for path in (layer, layer.general, layer.reference):
        out, weights = path(q, k, v, padding, True, None, False)
        assert weights.shape == (2, 2, 4, 4)
        torch.testing.assert_close(out, expected[0], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(weights, expected[1], rtol=1e-10, atol=1e-10)
    assert layer.weights_expression.axis_names == ("t", "h", "s")


def test_bad_inputs_and_options() -> None:
    layer = from_torch(nn.MultiheadAttention(8, 2, batch_first=True))
    x = torch.randn(2, 5, 8)
    with pytest.raises(ValueError, match=r"query: expected \[B, L, E\].*E = embed_dim = 8"):
        layer(torch.randn(2, 5, 6), x, x)
    with pytest.raises(ValueError, match=r"key_padding_mask: expected shape \(2, 5\)"):
        layer(x, x, x, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"attn_mask: expected shape \(5, 5\)"):
        layer(x, x, x, attn_mask=torch.zeros(3, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="add_bias_kv: expected False"):
        from_torch(nn.MultiheadAttention(8, 2, add_bias_kv=True))


def test_inputs_agree_with_each_other() -> None:
    layer = MultiheadAttention(4, 2, kdim=3, batch_first=True)
    q, k, v = torch.randn(2, 5, 4), torch.randn(2, 6, 3), torch.randn(2, 6, 4)
    assert layer(q, k, v)[0].shape == (2, 5, 4)
    with pytest.raises(ValueError, match=r"key: expected .*with E = kdim = 3"):
        layer(q, torch.randn(2, 6, 4), v)
    with pytest.raises(ValueError, match=r"key: expected the batch size of query \(2\)"):
        layer(q, k[:1], v[:1])
    with pytest.raises(ValueError, match=r"key: expected rank 3 \(that of query"):
        layer(q, k[0], v[0])
    with pytest.raises(ValueError, match=r"value: expected the batch size and length of key"):
        layer(q, k, v[:, :5])
    with pytest.raises(TypeError, match=r"need_weights: expected a bool"):
        layer(q, k, v, need_weights="no")  # type: ignore[arg-type]
