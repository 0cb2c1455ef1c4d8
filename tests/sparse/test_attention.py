"""The mixing matrix of attention layers and its third-order factorisation, checked against
plain-torch recomputations of the values and output maps and against torch's own weights."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from prodint.families import families
from prodint.interaction import Pointwise
from prodint.interaction.registry import Case
from prodint.nn.dtn import TensorAttention, TensorInteraction
from prodint.sparse.attention import attention_matrix, attention_tensor
from prodint.zoo import MultiheadAttention, from_torch

SEEDS = range(4)
TOL = {"rtol": 1e-10, "atol": 1e-10}


def _case(name: str, seed: int) -> Case:
    return families()[name].build(torch.Generator().manual_seed(seed))


def _heads(x: Tensor, w: Tensor, heads: int) -> Tensor:
    """``(x @ w)`` split into heads: ``[B, T, H·e] → [B, H, T, e]``."""
    return (x @ w).unflatten(-1, (heads, -1)).transpose(1, 2)


def _merge(o: Tensor) -> Tensor:
    """``[B, H, T, e] → [B, T, H·e]``."""
    return o.transpose(1, 2).flatten(-2)


def _rms(o: Tensor) -> Tensor:
    return o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-6)


def _mixed(layer: nn.Module, case: Case, a: Tensor) -> Tensor:
    """The layer's output recomputed as ``Wo · merge(A v)`` from its parameters alone."""
    x = case.inputs[0]
    p = layer.param
    if isinstance(layer, MultiheadAttention):
        value = case.inputs[2] if layer.batch_first else case.inputs[2].transpose(0, 1)
        v = _heads(value, p("Wv").T, layer.num_heads)
        if layer.bias:
            v = v + p("bv").unflatten(-1, (layer.num_heads, -1))[:, None]
        y = _merge(a @ v) @ p("Wo").T + (p("bo") if layer.bias else 0)
        return y if layer.batch_first else y.transpose(0, 1)
    if a.dim() == 3:  # one head, no output projection: library linear and softmax attention
        return a @ (x @ p("Wv"))
    torch_layout = type(layer).__name__ == "LinearAttention"
    wv, wo = (p(n).T if torch_layout else p(n) for n in ("Wv", "Wo"))
    o = a @ _heads(x, wv, a.shape[1])
    if getattr(layer, "output_norm", False):
        o = _rms(o)
    return _merge(o) @ wo


ATTENTION = ["library.linear_attention.causal", "library.softmax_attention.causal",
             "library.multihead_attention", "zoo.MultiheadAttention",
             "zoo.MultiheadAttention.key_padding", "zoo.MultiheadAttention.causal",
             "zoo.LinearAttention", "zoo.LinearAttention.causal", "nn.CausalSelfAttention",
             "nn.TensorAttention.causal", "nn.TensorAttention.causal.decay",
             "nn.TensorAttention.causal.normalize", "nn.TensorAttention.causal.decay_normalize"]
CAUSAL = ["library.linear_attention.causal", "library.softmax_attention.causal",
          "zoo.MultiheadAttention.causal", "zoo.LinearAttention.causal",
          "nn.CausalSelfAttention", "nn.TensorAttention.causal",
          "nn.TensorAttention.causal.decay", "nn.TensorAttention.causal.normalize",
          "nn.TensorAttention.causal.decay_normalize"]
SOFTMAX = ["library.softmax_attention.causal", "library.multihead_attention",
           "zoo.MultiheadAttention", "zoo.MultiheadAttention.key_padding",
           "zoo.MultiheadAttention.causal", "nn.CausalSelfAttention"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ATTENTION)
def test_output_is_the_matrix_times_the_values(name: str, seed: int) -> None:
    case = _case(name, seed)
    a = attention_matrix(case.layer, *case.inputs, **case.named)
    assert a.dtype == torch.float64
    out = case.layer(*case.inputs, **case.named)
    out = out[0] if isinstance(out, tuple) else out
    torch.testing.assert_close(_mixed(case.layer, case, a), out, **TOL)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", CAUSAL)
def test_causal_matrices_are_lower_triangular(name: str, seed: int) -> None:
    case = _case(name, seed)
    a = attention_matrix(case.layer, *case.inputs, **case.named)
    assert a.shape[-1] == a.shape[-2]
    assert torch.equal(a.triu(1), torch.zeros_like(a))


@pytest.mark.parametrize("name", SOFTMAX)
def test_softmax_rows_sum_to_one(name: str) -> None:
    case = _case(name, 1)
    a = attention_matrix(case.layer, *case.inputs, **case.named)
    assert bool((a >= 0).all())
    torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1], dtype=a.dtype), **TOL)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", ["none", "causal", "padding", "both"])
def test_multihead_matrix_is_torchs_weights(masks: str, batch_first: bool) -> None:
    g = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    mha = nn.MultiheadAttention(6, 3, batch_first=batch_first, dtype=torch.float64).eval()
    layer = from_torch(mha)
    shape = (2, 5, 6) if batch_first else (5, 2, 6)
    q, k, v = (torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(3))
    named: dict[str, Tensor] = {}
    if masks in ("causal", "both"):
        named["attn_mask"] = torch.ones(5, 5, dtype=torch.bool).triu(1)
    if masks in ("padding", "both"):
        named["key_padding_mask"] = torch.tensor([[False, False, True, False, True],
                                                  [False, True, False, False, False]])
    _, expected = mha(q, k, v, need_weights=True, average_attn_weights=False, **named)
    a = attention_matrix(layer, q, k, v, **named)
    assert a.shape == (2, 3, 5, 5)
    torch.testing.assert_close(a, expected, **TOL)


def _qk(layer: nn.Module, x: Tensor, torch_layout: bool) -> tuple[Tensor, Tensor]:
    """Queries and keys ``[B, H, T, d]`` from the layer's ``Wq``, ``Wk`` (one head when the
    expression has no heads)."""
    heads = getattr(layer, "heads", 1)
    w = [layer.param(n).T if torch_layout else layer.param(n) for n in ("Wq", "Wk")]
    return _heads(x, w[0], heads), _heads(x, w[1], heads)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ["library.linear_attention.causal", "zoo.LinearAttention",
                                  "zoo.LinearAttention.causal"])
def test_linear_attention_tensor_is_queries_times_keys(name: str, seed: int) -> None:
    case = _case(name, seed)
    x = case.inputs[0]
    q, k = _qk(case.layer, x, name.startswith("zoo"))
    expected = q[:, :, :, None, :] * k[:, :, None, :, :]  # [B, H, t, s, d]
    if name.endswith("causal"):
        expected = expected * torch.ones(x.shape[1], x.shape[1]).tril()[:, :, None]
    if name.startswith("library"):
        expected = expected[:, 0]  # no head axis
    g = attention_tensor(case.layer, *case.inputs)
    torch.testing.assert_close(g, expected, **TOL)
    torch.testing.assert_close(g.sum(-1), attention_matrix(case.layer, x), **TOL)


@pytest.mark.parametrize("decay", [None, 0.7])
@pytest.mark.parametrize("heads", [1, 2])
def test_tensor_attention_tensor(heads: int, decay: float | None) -> None:
    g = torch.Generator().manual_seed(heads)
    layer = TensorAttention(4 * heads, heads, decay=decay, dtype=torch.float64, generator=g)
    x = torch.randn(2, 6, 4 * heads, generator=g, dtype=torch.float64)
    q, k = _qk(layer, x, False)
    s = q @ k.transpose(-1, -2)  # q_t·k_i: [B, H, t, i]
    n = torch.arange(6)
    t, j, i = n[:, None, None], n[None, :, None], n[None, None, :]
    gamma = 1.0 if decay is None else decay
    weight = torch.where((i <= j) & (j <= t), gamma ** ((t - i) + (t - j)).double(), 0.0)
    expected = weight * s[:, :, :, None, :] * s[:, :, None, :, :]  # [B, H, t, j, i]
    got = attention_tensor(layer, x)
    torch.testing.assert_close(got, expected, **TOL)
    assert torch.equal(got[..., weight == 0], torch.zeros_like(got[..., weight == 0]))
    torch.testing.assert_close(got.sum(-1), attention_matrix(layer, x), **TOL)


def test_normalised_tensor_attention_tensor_sums_to_rows_of_one() -> None:
    g = torch.Generator().manual_seed(5)
    layer = TensorAttention(6, 2, normalize=True, dtype=torch.float64, generator=g)
    x = torch.randn(2, 5, 6, generator=g, dtype=torch.float64)
    a = attention_matrix(layer, x)
    torch.testing.assert_close(a.sum(-1), torch.ones(2, 2, 5, dtype=torch.float64), **TOL)
    torch.testing.assert_close(attention_tensor(layer, x).sum(-1), a, **TOL)


@pytest.mark.parametrize("name", SOFTMAX)
def test_tensor_of_softmax_names_the_softmax(name: str) -> None:
    case = _case(name, 0)
    softmax = next(n for n in case.layer.expression.walk()
                   if isinstance(n, Pointwise) and n.fn == "softmax")
    with pytest.raises(ValueError, match="layer") as error:
        attention_tensor(case.layer, *case.inputs, **case.named)
    assert str(softmax) in str(error.value)


def test_layers_without_a_mixing_matrix() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    refused = [
        (from_torch(nn.Linear(3, 4).double()), (x[..., :3],)),
        (TensorInteraction(4, 2, dtype=torch.float64), (x,)),
        (TensorInteraction(4, 2, causal=False, dtype=torch.float64), (x,)),
        (TensorAttention(4, 2, causal=False, dtype=torch.float64), (x,)),  # Q (KᵀK)(QᵀV)
    ]
    for name in ("library.tensor_attention", "library.linear_attention"):  # summary forms
        case = _case(name, 0)
        refused.append((case.layer, case.inputs))
    for layer, inputs in refused:
        for fn in (attention_matrix, attention_tensor):
            with pytest.raises(ValueError, match=r"^layer: expected an attention layer") as e:
                fn(layer, *inputs)
            assert str(layer.expression) in str(e.value)


def test_non_layers() -> None:
    x = torch.randn(2, 3)
    for layer in ("attention", nn.Linear(3, 3), None):
        for fn in (attention_matrix, attention_tensor):
            with pytest.raises(TypeError, match=r"^layer: expected"):
                fn(layer, x)


def test_bad_inputs_get_the_layers_errors() -> None:
    lib = _case("library.softmax_attention.causal", 0)
    x = lib.inputs[0]
    with pytest.raises(ValueError, match=r"^X: expected"):
        attention_matrix(lib.layer, x[..., :-1])
    with pytest.raises(TypeError, match=r"^X: expected"):
        attention_matrix(lib.layer, x.float())
    with pytest.raises(TypeError, match=r"^inputs: "):
        attention_matrix(lib.layer, Y=x)
    mha = _case("zoo.MultiheadAttention.causal", 0)
    q, k, v = mha.inputs
    with pytest.raises(ValueError, match=r"^query: expected"):
        attention_matrix(mha.layer, q[..., :-1], k, v)
    with pytest.raises(ValueError, match=r"^attn_mask: expected"):
        attention_matrix(mha.layer, q, k, v, attn_mask=torch.zeros(2, 2, dtype=torch.bool))
    layer = TensorAttention(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^x: expected"):
        attention_tensor(layer, torch.randn(2, 5, 3, dtype=torch.float64))


def test_the_layer_is_left_as_it_was() -> None:
    case = _case("zoo.MultiheadAttention.causal", 1)
    q, k, v = case.inputs
    before = case.layer.general(q, k, v, **case.named)[0]
    with pytest.raises(ValueError, match=r"^query: expected"):
        attention_matrix(case.layer, q[..., :-1], k, v)
    attention_matrix(case.layer, q, k, v, **case.named)
    assert "run_plan" not in vars(case.layer)
    torch.testing.assert_close(case.layer.general(q, k, v, **case.named)[0], before,
                               rtol=0, atol=0)
