"""The guarded ratio: both guards, broadcasting, its order, bad input."""

from __future__ import annotations

import pytest
import torch

from prodint.interaction import AxisSum, Contract, GuardedRatio, Parameter, Signal, compile
from prodint.interaction.normalize import floor_guard, signed_guard


def test_guards_keep_the_sign_or_floor_it() -> None:
    den = torch.tensor([-2.0, -1e-9, 0.0, 1e-9, 3.0], dtype=torch.float64)
    torch.testing.assert_close(signed_guard(den, 1e-6),
                               torch.tensor([-2.0, -1e-6, 1e-6, 1e-6, 3.0], dtype=torch.float64))
    torch.testing.assert_close(floor_guard(den, 1e-6),
                               torch.tensor([1e-6, 1e-6, 1e-6, 1e-6, 3.0], dtype=torch.float64))


@pytest.mark.parametrize("guard", ["signed", "floor"])
def test_ratio_divides_every_channel_by_its_position_normaliser(guard: str) -> None:
    x = Signal("X", [("t", None), ("c", 3)])
    num = Contract(Contract(x, Parameter("W", [("c", 3), ("o", 4)]), over="c"),
                   Contract(x, Parameter("V", [("c", 3)]), over="c"), over=())  # [t, o]
    den = AxisSum(Contract(x, x, over=()), "c")  # Σ_c x_c², one per position: [t]
    expr = GuardedRatio(num, den, eps=1e-3, guard=guard)
    assert expr.axes == num.axes
    assert expr.self_interaction_order == num.self_interaction_order == 2
    layer = compile(expr, dtype=torch.float64)
    u = torch.randn(2, 5, 3, dtype=torch.float64)
    u[0, 1] = 0.0  # a zero denominator: the guard's floor
    w, vv = layer.param("W").detach(), layer.param("V").detach()
    n = (u * u).sum(-1, keepdim=True)
    g = n.clamp_min(1e-3)  # n ≥ 0: both guards agree
    expected = (u @ w) * (u @ vv).unsqueeze(-1) / g
    torch.testing.assert_close(layer(u), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.reference(u), expected, rtol=1e-12, atol=1e-12)


def test_signed_guard_keeps_a_negative_normaliser() -> None:
    x = Signal("X", [("t", None), ("c", 2)])
    den = Contract(x, Parameter("a", [("c", 2)]), over="c")  # either sign
    layer = compile(GuardedRatio(x, den, guard="signed"), dtype=torch.float64)
    u = torch.tensor([[[1.0, 2.0], [3.0, -1.0]]], dtype=torch.float64)
    layer.load_tensors(a=torch.tensor([1.0, -1.0], dtype=torch.float64))
    expected = u / torch.tensor([[[-1.0], [4.0]]], dtype=torch.float64)
    torch.testing.assert_close(layer(u), expected, rtol=0, atol=1e-15)
    torch.testing.assert_close(layer.reference(u), expected, rtol=0, atol=1e-15)


def test_bad_input() -> None:
    x = Signal("X", [("t", None), ("c", 2)])
    other = Signal("Y", [("s", None)])
    with pytest.raises(ValueError, match="denominator: expected axes among the numerator's"):
        GuardedRatio(x, other)
    with pytest.raises(ValueError, match="guard: expected one of"):
        GuardedRatio(x, AxisSum(x, "c"), guard="abs")
    for eps in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="eps: expected a finite number > 0"):
            GuardedRatio(x, AxisSum(x, "c"), eps=eps)
    with pytest.raises(TypeError, match="eps: expected a real number"):
        GuardedRatio(x, AxisSum(x, "c"), eps=True)
    with pytest.raises(TypeError, match="denominator: expected an Expr"):
        GuardedRatio(x, 1.0)  # type: ignore[arg-type]
    short = Signal("Z", [("t", None), ("c", 3)])
    with pytest.raises(ValueError, match="axis 'c' has size 2 on the left and 3"):
        GuardedRatio(x, short)
