"""LinearRecurrence: the solve h = (1 - a z)⁻¹ b, its order, and its two evaluations."""

import pytest
import torch

from prodint.algebra import hadamard
from prodint.interaction import Parameter, Pointwise, Product, Signal, compile, evaluate
from prodint.interaction.scan import LinearRecurrence, linear_recurrence


def _closed_form(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``h_t = Σ_{s≤t} (Π_{s<r≤t} a_r) b_s`` along dimension 1 (the series of the inverse)."""
    h = torch.zeros_like(b)
    for t in range(b.shape[1]):
        for s in range(t + 1):
            h[:, t] += torch.prod(a[:, s + 1: t + 1], dim=1) * b[:, s]
    return h


def _gated():
    x = Signal("X", [("t", None), ("d", 3)])
    return LinearRecurrence(Pointwise("sigmoid", x), x, time="t"), x


def test_value_is_the_inverse_series(dtype: torch.dtype, tol: float) -> None:
    expr, _ = _gated()
    x = torch.randn(2, 9, 3, dtype=dtype)
    want = _closed_form(torch.sigmoid(x), x)
    module = compile(expr, dtype=dtype)
    torch.testing.assert_close(evaluate(expr, {"X": x}, {}), want, rtol=tol, atol=tol)
    torch.testing.assert_close(module(x), want, rtol=tol, atol=tol)


def test_kernel_and_reference_agree_with_gradients() -> None:
    x_sig = Signal("X", [("d", 2), ("t", None), ("n", 3)])  # time in the middle
    decay = Parameter("a", [("n", 3)], init="uniform")
    expr = LinearRecurrence(decay, x_sig, time="t")
    module = compile(expr, dtype=torch.float64)
    x = torch.randn(4, 2, 7, 3, dtype=torch.float64, requires_grad=True)
    fast, slow = module(x), module.reference(x)
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)
    w = torch.randn_like(fast)
    g_fast = torch.autograd.grad((fast * w).sum(), [x, module.params["a"]])
    g_slow = torch.autograd.grad((slow * w).sum(), [x, module.params["a"]])
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    a = module.params["a"].detach().expand(4, 2, 7, 3).movedim(2, 1)
    want = _closed_form(a, x.detach().movedim(2, 1)).movedim(1, 2)
    torch.testing.assert_close(fast.detach(), want, rtol=1e-12, atol=1e-12)


def test_orders_per_step_and_along_the_sequence() -> None:
    expr, x = _gated()
    assert expr.step_order == expr.self_interaction_order == 2  # ord(a) + ord(b) = 1 + 1
    # h_t = Σ_{s≤t} (Π_{s<r≤t} a_r) b_s: the term with t factors a has order 1 + t·1
    assert expr.state_orders(5) == [1, 2, 3, 4, 5] and expr.order_at(5) == 5
    # a decay of order 2, a drive of order 3: ord(h_t) = 3 + 2t
    square = Product(Pointwise("sigmoid", x), x, hadamard(3), "d")
    cubic = LinearRecurrence(square, Product(square, x, hadamard(3), "d"))
    assert cubic.step_order == 5 and cubic.state_orders(4) == [3, 5, 7, 9]
    constant = LinearRecurrence(Parameter("a", [("d", 3)]), x)
    assert constant.self_interaction_order == 1  # ord(b): a parameter adds nothing
    assert constant.state_orders(4) == [1, 1, 1, 1] and constant.order_at(100) == 1
    with pytest.raises(ValueError, match=r"length: expected a positive int, received -1"):
        constant.order_at(-1)
    # substituting a data-dependent decay for the parameter raises the order
    raised = constant.substitute("a", Pointwise("exp", x))
    assert isinstance(raised, LinearRecurrence)
    assert raised.self_interaction_order == 2
    assert "⁻¹" in str(expr) and "z_t" in str(expr)


def test_linear_recurrence_function_and_empty_time() -> None:
    a, b = torch.rand(2, 5, 3, dtype=torch.float64), torch.randn(2, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(linear_recurrence(a, b), _closed_form(a, b))
    assert linear_recurrence(a[:, :0], b[:, :0]).shape == (2, 0, 3)


def test_bad_arguments_are_named() -> None:
    x = Signal("X", [("t", None), ("d", 3)])
    with pytest.raises(ValueError, match=r"a: expected axes among those of b"):
        LinearRecurrence(Parameter("a", [("e", 3)]), x)
    with pytest.raises(ValueError, match=r"time: expected an axis of b"):
        LinearRecurrence(Parameter("a", [("d", 3)]), x, time="s")
    with pytest.raises(ValueError, match=r"a: axis 'd' has size"):
        LinearRecurrence(Parameter("a", [("d", 4)]), x)
    with pytest.raises(TypeError, match=r"b: expected an Expr"):
        LinearRecurrence(Parameter("a", [("d", 3)]), torch.zeros(3))  # type: ignore[arg-type]
