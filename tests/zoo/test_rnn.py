"""Recurrent layers: from_torch equals nn.RNN/GRU/LSTM; step and the cell expression agree."""

import pytest
import torch
from torch import nn

from prodint.zoo import from_torch

CLASSES = {"rnn_tanh": lambda **kw: nn.RNN(nonlinearity="tanh", **kw),
           "rnn_relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw),
           "gru": lambda **kw: nn.GRU(**kw), "lstm": lambda **kw: nn.LSTM(**kw)}
OPTIONS = [
    {"num_layers": 1}, {"num_layers": 2}, {"num_layers": 2, "bidirectional": True},
    {"num_layers": 1, "batch_first": True, "bias": False},
    {"num_layers": 2, "batch_first": True, "bidirectional": True},
]


def _flatten(out) -> list[torch.Tensor]:
    if isinstance(out, tuple):
        return [t for o in out for t in _flatten(o)]
    return [out]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}"
                                                                     for k, v in o.items()))
@pytest.mark.parametrize("kind", CLASSES)
@pytest.mark.parametrize("length", [1, 7])
def test_matches_torch_outputs_states_and_gradients(kind: str, options: dict,
                                                    length: int) -> None:
    torch.manual_seed(0)
    module = CLASSES[kind](input_size=3, hidden_size=4, **options).double()
    layer = from_torch(module)
    batch_first = options.get("batch_first", False)
    x0 = torch.randn((2, length, 3) if batch_first else (length, 2, 3), dtype=torch.float64)
    layers = options["num_layers"] * (2 if options.get("bidirectional") else 1)
    h0 = torch.randn(layers, 2, 4, dtype=torch.float64)
    state = (h0, torch.randn_like(h0)) if kind == "lstm" else h0
    results = []
    for fn, params in ((module, list(module.parameters())), (layer, list(layer.parameters()))):
        x = x0.clone().requires_grad_()
        outs = _flatten(fn(x, state))
        loss = sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view(o.shape)).sum()
                   for o in outs)
        results.append((outs, torch.autograd.grad(loss, [x, *params])))
    for a, b in zip(results[1][0] + list(results[1][1]), results[0][0] + list(results[0][1]),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", CLASSES)
def test_step_matches_forward_and_expression(kind: str) -> None:
    torch.manual_seed(1)
    module = CLASSES[kind](input_size=3, hidden_size=5, batch_first=True).double()
    layer = from_torch(module)
    assert layer.self_interaction_order == (1 if kind.startswith("rnn") else 3)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    out, _ = layer(x)
    state, rows = None, []
    for t in range(6):
        y, state = layer.step(x[:, t], state)
        rows.append(y)
    torch.testing.assert_close(torch.stack(rows, 1), out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.reference(x), out, rtol=1e-10, atol=1e-10)


def test_float32_and_unbatched() -> None:
    torch.manual_seed(2)
    module = nn.LSTM(3, 4)
    layer = from_torch(module)
    x = torch.randn(5, 3)
    for a, b in zip(_flatten(layer(x)), _flatten(module(x)), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_bad_inputs_and_options() -> None:
    layer = from_torch(nn.GRU(3, 4, batch_first=True))
    with pytest.raises(ValueError, match=r"input: expected \[B, T, C\].*C = 3"):
        layer(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match=r"hx: expected shape \(1, 2, 4\)"):
        layer(torch.randn(2, 5, 3), torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match="proj_size: expected 0"):
        from_torch(nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError, match="bidirectional: streaming needs"):
        from_torch(nn.GRU(3, 4, bidirectional=True)).step(torch.randn(2, 3))
