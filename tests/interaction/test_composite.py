"""Composite layers: one expression over the parts, the parameters kept by the parts."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch

from prodint.interaction import Contract, Expr, InteractionLayer, Parameter, Signal, Sum
from prodint.interaction.composite import CompositeLayer, PartParameters


class _Linear(InteractionLayer):
    """``x W`` on ``x[t, m]`` (a part: it states its expression on any input)."""

    def __init__(self, width: int) -> None:
        self.width = width
        super().__init__(self.expression_on(Signal("X", [("t", None), ("m", width)]), ""),
                         dtype=torch.float64)

    def expression_on(self, x: Expr, prefix: str) -> Expr:
        w = Parameter(prefix + "W", [("m", self.width), ("n", self.width)])
        return Contract(Contract(x, w, over="m"), Parameter(prefix + "P", [("n", self.width),
                                                                           ("m", self.width)]),
                        over="n")


def _residual(x: Expr, parts: Mapping[str, InteractionLayer], prefix: str) -> Expr:
    h = parts["first"].expression_on(x, f"{prefix}first_")  # type: ignore[attr-defined]
    return Sum(x, parts["second"].expression_on(h, f"{prefix}second_"))  # type: ignore


class _Residual(CompositeLayer):
    """``x + (x W₁ P₁) W₂ P₂``."""

    def __init__(self, width: int) -> None:
        first, second = _Linear(width), _Linear(width)
        super().__init__(Signal("X", [("t", None), ("m", width)]), _residual,
                         {"first": first, "second": second}, dtype=torch.float64)
        self.first, self.second = first, second


def test_expression_runs_on_the_parts_tensors() -> None:
    torch.manual_seed(0)
    layer = _Residual(3)
    assert set(layer.params) == {"first_W", "first_P", "second_W", "second_P"}
    assert layer.params["second_P"] is layer.second.param("P")
    assert sorted(layer.state_dict()) == ["first.params.P", "first.params.W",
                                          "second.params.P", "second.params.W"]
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    f, s = layer.first, layer.second
    expected = x + x @ f.param("W") @ f.param("P") @ s.param("W") @ s.param("P")
    torch.testing.assert_close(layer.general(x), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.reference(x), expected, rtol=1e-12, atol=1e-12)
    # gradients reach the parts' parameters
    layer.general(x).sum().backward()
    assert all(p.grad is not None for p in layer.parameters())
    assert layer.self_interaction_order == 1 and "order=1" in repr(layer)


def test_nested_composites_and_reset() -> None:
    class _Outer(CompositeLayer):
        def __init__(self) -> None:
            inner = _Residual(2)

            def compose(x: Expr, parts: Mapping[str, InteractionLayer], prefix: str) -> Expr:
                return parts["inner"].expression_on(x, f"{prefix}inner_")  # type: ignore

            super().__init__(Signal("X", [("t", None), ("m", 2)]), compose, {"inner": inner},
                             dtype=torch.float64)
            self.inner = inner

    outer = _Outer()
    assert outer.params["inner_first_W"] is outer.inner.first.param("W")
    with torch.no_grad():
        for p in outer.parameters():
            p.zero_()
    outer.reset_parameters()
    assert all(float(p.detach().abs().sum()) > 0 for p in outer.parameters())


def test_an_expression_that_misses_the_parts_is_refused() -> None:
    def wrong(x: Expr, parts: Mapping[str, InteractionLayer], prefix: str) -> Expr:
        return parts["first"].expression_on(x, "other_")  # type: ignore[attr-defined]

    with pytest.raises(ValueError, match="compose: expected an expression of the parts"):
        CompositeLayer(Signal("X", [("t", None), ("m", 2)]), wrong, {"first": _Linear(2)})
    with pytest.raises(TypeError, match=r"parts\['first'\]: expected an InteractionLayer"):
        CompositeLayer(Signal("X", [("t", None), ("m", 2)]), wrong,
                       {"first": torch.nn.Linear(2, 2)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="the parameter name 'a_P_W' arises twice"):
        PartParameters({"a": _Parts({"P_W": 1}), "a_P": _Parts({"W": 2})})  # type: ignore


class _Parts:
    """Stands for a part: only its ``params`` are read."""

    def __init__(self, params: dict) -> None:
        self.params = params


def test_the_order_of_a_deep_stack_is_read_at_once() -> None:
    """Forty residual parts in a row: each reads its input twice (the skip and the branch),
    so the expression has 2^40 paths from the output to the signal; the order is computed
    once per node."""

    def stack(x: Expr, parts: Mapping[str, InteractionLayer], prefix: str) -> Expr:
        for key, part in parts.items():
            x = part.expression_on(x, f"{prefix}{key}_")  # type: ignore[attr-defined]
        return x

    parts = {f"r{i}": _Residual(2) for i in range(40)}
    deep = CompositeLayer(Signal("X", [("t", None), ("m", 2)]), stack, parts)
    assert deep.self_interaction_order == 1
    assert len(deep.params) == 160
