"""Elman RNN, GRU, LSTM: exact against torch (values, final states, every gradient), streaming
equals forward, the expression equals the fast path, orders, and clear errors."""

from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

from prodint.zoo.recurrent import GRU, LSTM, ElmanRNN, RecurrentLayer
from prodint.zoo.registry import from_torch

FAMILIES = {
    "rnn": (nn.RNN, {}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
    "gru": (nn.GRU, {}),
    "lstm": (nn.LSTM, {}),
}
C, H = 3, 5


@dataclass(frozen=True)
class Config:
    layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    bias: bool = True
    initial: bool = False
    length: int = 7
    batched: bool = True

    def __str__(self) -> str:
        parts = [f"L{self.layers}", f"T{self.length}"]
        parts += [name for name, on in (("bidir", self.bidirectional),
                                        ("batch_first", self.batch_first),
                                        ("nobias", not self.bias), ("hx", self.initial),
                                        ("unbatched", not self.batched)) if on]
        return "-".join(parts)


CONFIGS = [
    Config(),
    Config(layers=2, bidirectional=True, batch_first=True, initial=True),
    Config(layers=2, bias=False, initial=True, length=1),
    Config(bidirectional=True, bias=False, length=1, batch_first=True),
    Config(layers=2, batch_first=True, length=7),
    Config(layers=2, bidirectional=True, initial=True, batched=False),
]


def make(family: str, cfg: Config, dtype: torch.dtype, seed: int = 0,
         ) -> tuple[nn.RNNBase, RecurrentLayer, Tensor, object]:
    torch.manual_seed(seed)
    torch_type, extra = FAMILIES[family]
    module = torch_type(C, H, num_layers=cfg.layers, bias=cfg.bias, batch_first=cfg.batch_first,
                        bidirectional=cfg.bidirectional, **extra).to(dtype)
    layer = from_torch(module)
    batch = 4
    shape = ((batch, cfg.length, C) if cfg.batch_first else (cfg.length, batch, C)) \
        if cfg.batched else (cfg.length, C)
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    hx: object = None
    if cfg.initial:
        n = cfg.layers * (2 if cfg.bidirectional else 1)
        state_shape = (n, batch, H) if cfg.batched else (n, H)
        states = [torch.randn(state_shape, dtype=dtype, requires_grad=True)
                  for _ in range(2 if family == "lstm" else 1)]
        hx = tuple(states) if family == "lstm" else states[0]
    return module, layer, x, hx


def flat(result: tuple) -> list[Tensor]:
    out, state = result
    return [out, *(state if isinstance(state, tuple) else (state,))]


def leaves(x: Tensor, hx: object) -> list[Tensor]:
    return [x, *(hx if isinstance(hx, tuple) else (() if hx is None else (hx,)))]


@pytest.mark.parametrize("path", ["forward", "general", "oracle"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
@pytest.mark.parametrize("family", FAMILIES)
def test_from_torch_values_states_gradients(family: str, cfg: Config, path: str, dtype,
                                            tol) -> None:
    """The native dispatch (``forward``), the compiled expression (``general``) and prodint's
    own loop (``oracle``) against torch."""
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    module, layer, x, hx = make(family, cfg, dtype)
    run = layer if path == "forward" else getattr(layer, path)
    ours, theirs = flat(run(x, hx)), flat(module(x, hx))
    assert [t.shape for t in ours] == [t.shape for t in theirs]
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    # one random cotangent on the output and on every final state
    cotangents = [torch.randn_like(t) for t in theirs]
    names = [n for n, _ in module.named_parameters()]
    # torch's names, under the layer contract's params.<name>
    assert sorted(f"params.{n}" for n in names) == sorted(n for n, _ in layer.named_parameters())

    def grads(params: list[Tensor], outputs: list[Tensor]) -> tuple[Tensor, ...]:
        loss = sum((o * g).sum() for o, g in zip(outputs, cotangents, strict=True))
        return torch.autograd.grad(loss, [*leaves(x, hx), *params])

    ours_grads = grads([layer.param(n) for n in names], ours)
    for name, a, b in zip(["input", "h0", "c0"][:len(leaves(x, hx))] + names, ours_grads,
                          grads(list(module.parameters()), theirs), strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
@pytest.mark.parametrize("family", FAMILIES)
def test_step_streams_forward(family: str, batch_first: bool) -> None:
    cfg = Config(layers=2, batch_first=batch_first, initial=True)
    _, layer, x, hx = make(family, cfg, torch.float64, seed=1)
    out, final = layer(x, hx)
    state = hx
    for t in range(cfg.length):
        y, state = layer.step(x[:, t] if batch_first else x[t], state)
        torch.testing.assert_close(y, out[:, t] if batch_first else out[t], rtol=1e-12,
                                   atol=1e-12)
    for a, b in zip(flat((None, state))[1:], flat((None, final))[1:], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # unbatched steps, from zeros
    y, _ = layer.step(x[0, 0])
    torch.testing.assert_close(y, layer(x[0:1, :1] if batch_first else x[:1, 0:1])[0][0, 0],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_equals_forward(family: str) -> None:
    cfg = Config(layers=2, bidirectional=True, batch_first=True, initial=True, length=4)
    _, layer, x, hx = make(family, cfg, torch.float64, seed=2)
    for path in (layer.general, layer):
        for a, b in zip(flat(layer.reference(x, hx)), flat(path(x, hx)), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    signals = [s.name for s in layer.expression.signals()]
    assert signals == ["X", "h0_l0", "h0_l0_reverse", "h0_l1", "h0_l1_reverse"]


def test_orders() -> None:
    assert ElmanRNN(3, 4).self_interaction_order == 1
    assert ElmanRNN(3, 4, num_layers=3).self_interaction_order == 1
    assert GRU(3, 4).self_interaction_order == 3
    assert LSTM(3, 4).self_interaction_order == 3
    # layers compose: the second layer's step reads an order-3 sequence
    assert GRU(3, 4, num_layers=2).self_interaction_order == 9
    assert LSTM(3, 4, num_layers=2, bidirectional=True).self_interaction_order == 9
    assert [r.step_order for r in GRU(3, 4, num_layers=2).recurrences] == [3, 3]


def test_orders_along_the_sequence() -> None:
    # Elman: tanh(W x + U h + b) keeps the order of its argument, max(1, ord h) = 1
    assert ElmanRNN(3, 4).output_orders(5) == [1] * 5
    assert ElmanRNN(3, 4, num_layers=2, bidirectional=True).order_at(40) == 1
    # GRU, with o = ord(h_{t-1}) and ord(x) = 1: the gates r, z = σ(W x + U h) have order
    # max(1, o); n = tanh(W x + r ⊙ (U h + b)) has max(1, max(1, o) + o); h' = n + z ⊙ (h - n)
    # has max(ord n, max(1, o) + max(o, ord n)). From the zero state (o = 0): n = 1, h = 2;
    # then o ≥ 1 gives n = 2o, h' = 3o: 2, 6, 18, 54, 162
    assert GRU(3, 4).output_orders(5) == [2, 6, 18, 54, 162]
    # LSTM, S = (h, c) of order o: gates max(1, o); c' = f ⊙ c + i ⊙ g has max(1, o) + max(o,
    # max(1, o)); h' = o_gate ⊙ tanh(c') adds max(1, o) again. o = 0: c' = 2, h' = 3; then
    # c' = 2o, h' = 3o: 3, 9, 27, 81, 243
    assert LSTM(3, 4).output_orders(5) == [3, 9, 27, 81, 243]
    assert LSTM(3, 4, bias=False).order_at(3) == 27
    # a second GRU layer reads the first one's orders (2, 6): from o = 0 with ord(x) = 2,
    # gates 2, n = max(2, 2 + 0) = 2, h = max(2, 2 + 2) = 4; then ord(x) = 6, o = 4: gates 6,
    # n = max(6, 6 + 4) = 10, h = max(10, 6 + 10) = 16
    assert GRU(3, 4, num_layers=2).output_orders(2) == [4, 16]
    # bidirectional: the backward direction's states (2, 6) run from the end, so both
    # positions see one direction at 6
    assert GRU(3, 4, bidirectional=True).output_orders(2) == [6, 6]
    # the per-step order stays what self_interaction_order reports
    assert GRU(3, 4).self_interaction_order == 3
    with pytest.raises(ValueError, match=r"length: expected a positive int, received 0"):
        GRU(3, 4).order_at(0)


def test_dropout_is_identity_in_eval() -> None:
    torch.manual_seed(0)
    module = nn.GRU(C, H, num_layers=2, dropout=0.5).double().eval()
    layer = from_torch(module)
    assert not layer.training and layer.dropout == 0.5
    x = torch.randn(6, 2, C, dtype=torch.float64)
    torch.testing.assert_close(layer(x)[0], module(x)[0], rtol=1e-10, atol=1e-10)
    layer.train()
    module.train()
    assert not torch.allclose(layer(x)[0], layer(x)[0])
    # training mode: the native path draws torch's dropout masks from the same seed
    torch.manual_seed(7)
    ours = layer(x)[0]
    torch.manual_seed(7)
    torch.testing.assert_close(ours, module(x)[0], rtol=1e-12, atol=1e-12)
    # the oracle drops out too (different masks, same expectation); the expressions are the
    # evaluation-mode function in either mode
    dropped, general, reference = layer.oracle(x)[0], layer.general(x)[0], layer.reference(x)[0]
    evaluated = layer.eval()(x)[0]
    assert not torch.allclose(dropped, evaluated)
    torch.testing.assert_close(general, evaluated, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(reference, evaluated, rtol=1e-12, atol=1e-12)


def test_bad_inputs() -> None:
    rnn, lstm = ElmanRNN(C, H, num_layers=2), LSTM(C, H, batch_first=True)
    with pytest.raises(ValueError, match=r"input: expected \[T, B, C\] with C = input_size = 3, "
                                         r"received shape \(7, 2, 4\)"):
        rnn(torch.randn(7, 2, 4))
    with pytest.raises(ValueError, match=r"input: expected \[T, C\] with C = input_size = 3, "
                                         r"received shape \(2, 7\)"):
        rnn(torch.randn(2, 7))
    with pytest.raises(ValueError, match=r"input: expected a tensor of rank 2 or 3 \[B, T, C\]"):
        lstm(torch.randn(7, 2, 3, 1))
    with pytest.raises(ValueError, match=r"hx: expected shape \(2, 2, 5\).*received \(1, 2, 5\)"):
        rnn(torch.randn(7, 2, C), torch.zeros(1, 2, H))
    with pytest.raises(ValueError, match=r"hx\[1\] \(c_0\): expected shape \(1, 2, 5\).*"
                                         r"received \(1, 2, 4\)"):
        lstm(torch.randn(2, 7, C), (torch.zeros(1, 2, H), torch.zeros(1, 2, 4)))
    with pytest.raises(TypeError, match=r"hx: expected a pair \(h_0, c_0\)"):
        lstm(torch.randn(2, 7, C), torch.zeros(1, 2, H))
    with pytest.raises(TypeError, match=r"input: expected dtype torch.float32"):
        rnn(torch.randn(7, 2, C, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"step: streaming needs bidirectional=False"):
        GRU(C, H, bidirectional=True).step(torch.randn(2, C))
    with pytest.raises(ValueError, match=r"nonlinearity: expected one of 'tanh', 'relu'"):
        ElmanRNN(C, H, nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"proj_size=2 is not supported"):
        from_torch(nn.LSTM(C, H, proj_size=2))


def test_contract_conventions() -> None:
    # reproducible draws from a generator, in the dtype asked for, torch's U(±1/√H) for all
    a = GRU(C, H, num_layers=2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    b = GRU(C, H, num_layers=2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    bound = 1 / H ** 0.5
    for name, p in a.params.items():
        assert p.dtype == torch.float64 and torch.equal(p, b.params[name])
        assert float(p.detach().abs().max()) <= bound
    weights = torch.cat([p.detach().flatten() for p in a.params.values()])
    assert float(weights.abs().max()) > 0.95 * bound  # the range is ±1/√H, not ±1/√C
    before = a.param("weight_hh_l1").clone()
    a.reset_parameters()
    assert not torch.equal(before, a.param("weight_hh_l1"))
    # the state dict is torch's names under params.<name>, nothing else
    names = {n for n, _ in nn.GRU(C, H, num_layers=2).named_parameters()}
    assert set(a.state_dict()) == {f"params.{n}" for n in names}
    # the final-state expression reads the last step of every recurrence, in h_n order
    assert a.final_state_expression.axis_names == ("n", "h")
    assert a.final_state_expression.axes[0].size == 2


def test_sizes_are_refused_before_building() -> None:
    with pytest.raises(ValueError, match=r"input_size, hidden_size, num_layers: expected a "
                                         r"size for which the parameters"):
        LSTM(3, 4, num_layers=2**40)
    with pytest.raises(TypeError, match=r"batch_first: expected a bool, received 1"):
        GRU(3, 4, batch_first=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"dropout: expected a finite number >= 0 and <= 1"):
        GRU(3, 4, dropout=float("nan"))
    rnn = GRU(3, 4, num_layers=2, batch_first=True)
    with pytest.raises(ValueError, match=r"state: expected shape \(2, 5, 4\) \(layers·directions, "
                                         r"batch of x"):
        rnn.step(torch.randn(5, 3), torch.zeros(2, 2, 4))
