"""The layer contract's own behaviour: parameters, reset, dtype/device, repr, the expression
on another input (``expression_on``), bad input."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch

from prodint.interaction import (
    CompositeLayer,
    Constant,
    Contract,
    Expr,
    Gather,
    InteractionLayer,
    Parameter,
    Permute,
    Plan,
    Rename,
    Signal,
    Sum,
    compile,
    evaluate,
    library,
)


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
    with pytest.raises(TypeError, match=r"dtype: expected a floating torch\.dtype"):
        InteractionLayer(library.dense(2, 2), dtype=torch.int64)
    layer = InteractionLayer(library.dense(2, 2))
    with pytest.raises(KeyError, match="expected one of"):
        layer.param("V")
    with pytest.raises(ValueError, match="W: expected shape"):
        layer.load_tensors(W=torch.zeros(3, 3))


def _renamed(layer: InteractionLayer, prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + name: t for name, t in layer.params.items()}


def test_expression_on_restates_the_layer_on_another_input() -> None:
    torch.manual_seed(0)
    layer = InteractionLayer(library.glu(4, 6), dtype=torch.float64)
    # the input arrives with its axes in another order: it is permuted to the signal's
    y = Signal("Y", [("c", 4), ("t", None)])
    expr = layer.expression_on(y, "p_")
    assert [s.name for s in expr.signals()] == ["Y"]
    for old, new in zip(layer.expression.parameters(), expr.parameters(), strict=True):
        assert new.name == "p_" + old.name
        assert (new.axes, new.init, new.fan_in) == (old.axes, old.init, old.fan_in)
    value = torch.randn(2, 4, 5, dtype=torch.float64)  # [B, c, t]
    got = evaluate(expr, {"Y": value}, _renamed(layer, "p_"))
    torch.testing.assert_close(got, layer(value.transpose(1, 2)), rtol=1e-12, atol=1e-12)
    # on an input of order 2 (the GLU of a GLU of the signal), the order doubles
    inner = InteractionLayer(Rename(library.glu(4, 4), {"h": "c"}), dtype=torch.float64)
    twice = layer.expression_on(inner.expression_on(library.signal(4), "a_"), "b_")
    assert twice.self_interaction_order == 4
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    got = evaluate(twice, {"X": x}, _renamed(inner, "a_") | _renamed(layer, "b_"))
    torch.testing.assert_close(got, layer(inner(x)), rtol=1e-12, atol=1e-12)


class _Tied(InteractionLayer):
    """``x W + c`` with ``W[c, o] = K[index[c, o]]`` (a tie table) and a fixed offset ``c[o]``:
    two such layers with different tables under the same table names."""

    def __init__(self, index: torch.Tensor, offset: torch.Tensor) -> None:
        k = Parameter("K", [("k", int(index.max()) + 1)])
        w = Gather(k, "tie", index, [("c", 3), ("o", 3)])
        x = Signal("X", [("t", None), ("c", 3)])
        y = Sum(Contract(x, w, over="c"), Constant("offset", offset, [("o", 3)]))
        super().__init__(Rename(y, {"o": "c"}), dtype=torch.float64)
        self.index, self.offset = index, offset

    def oracle(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.param("K")[self.index] + self.offset


def _chain(x: Expr, parts: Mapping[str, InteractionLayer], prefix: str) -> Expr:
    h = parts["first"].expression_on(x, f"{prefix}first_")
    return parts["second"].expression_on(h, f"{prefix}second_")


def test_parts_with_tables_of_the_same_name_compose() -> None:
    torch.manual_seed(1)
    circulant = (torch.arange(3)[None] - torch.arange(3)[:, None]) % 3  # K[(o - c) mod 3]
    first = _Tied(circulant, torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64))
    second = _Tied(torch.tensor([[0, 1, 1], [1, 0, 1], [1, 1, 0]]),
                   torch.tensor([0.5, 0.5, 2.0], dtype=torch.float64))
    expr = second.expression_on(Signal("X", [("t", None), ("c", 3)]), "s_")
    assert sorted(Plan(expr).tables) == ["s_offset", "s_tie_index"]
    chain = CompositeLayer(Signal("X", [("t", None), ("c", 3)]), _chain,
                           {"first": first, "second": second}, dtype=torch.float64)
    assert sorted(chain.tables()) == ["first_offset", "first_tie_index", "second_offset",
                                      "second_tie_index"]
    assert list(chain.state_dict()) == []  # the tables are not checkpoint state
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    expected = second.oracle(first.oracle(x))
    for run in (chain.general, chain.reference):
        torch.testing.assert_close(run(x), expected, rtol=1e-12, atol=1e-12)


def test_expression_on_bad_input() -> None:
    layer = InteractionLayer(library.dense(3, 2))
    with pytest.raises(ValueError, match=r"^x: expected an expression with the axes of the "
                                         r"signal X \[t=\*, c=3\], received \[t=\*, c=4\]"):
        layer.expression_on(library.signal(4), "p_")
    with pytest.raises(ValueError, match=r"^x: expected .* received \[t=\*, m=3\]"):
        layer.expression_on(Signal("X", [("t", None), ("m", 3)]), "p_")
    with pytest.raises(TypeError, match=r"^x: expected an Expr, received a torch"):
        layer.expression_on(torch.zeros(3), "p_")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^prefix: expected a string that starts an "
                                        r"identifier, received '1_'"):
        layer.expression_on(library.signal(3), "1_")
    a, b = library.signal(3, name="A"), library.signal(3, name="B")
    two = InteractionLayer(Contract(Permute(a, ("c", "t")), Rename(b, {"t": "s"}), over="c"))
    with pytest.raises(ValueError, match=r"^expression: expected a layer of one signal .* "
                                         r"received InteractionLayer with signals \['A', 'B'\]"):
        two.expression_on(a, "p_")


def test_inputs_are_checked_against_the_layer() -> None:
    layer = InteractionLayer(library.dense(2, 3), dtype=torch.float64)
    x = torch.randn(4, 2, dtype=torch.float64)
    for run in (layer, layer.general, layer.reference):
        with pytest.raises(TypeError, match=r"^X: expected dtype float16, bfloat16, float32, "
                                            r"float64, received torch\.int64"):
            run(x.round().long())
        with pytest.raises(TypeError, match=r"^X: expected dtype torch\.float64 \(that of the "
                                            r"layer's parameters\), received torch\.float32"):
            run(x.float())
        with pytest.raises(ValueError, match=r"^X: expected a tensor on cpu"):
            run(x.to("meta"))
        with pytest.raises(TypeError, match=r"^X: expected a torch\.Tensor"):
            run(x.tolist())


def test_layer_options_are_checked() -> None:
    expr = library.dense(2, 2)
    with pytest.raises(ValueError, match="device: expected a device such as 'cpu'"):
        InteractionLayer(expr, device="no-such-device")
    with pytest.raises(TypeError, match=r"device: expected a torch\.device, a str or None"):
        InteractionLayer(expr, device=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"dtype: expected a floating torch\.dtype or None"):
        InteractionLayer(expr, dtype="float64")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"generator: expected a torch\.Generator or None"):
        InteractionLayer(expr, generator=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expr: expected an Expr"):
        compile(None)  # type: ignore[arg-type]
    layer = InteractionLayer(expr)
    with pytest.raises(ValueError, match=r"name: expected one of \['W', 'b'\], received 3"):
        layer.param(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="W: expected a tensor with data"):
        layer.load_tensors(W=torch.zeros(2, 2, device="meta"))
