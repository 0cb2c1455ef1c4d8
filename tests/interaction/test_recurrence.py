"""Recurrence, Select, Stack: values against hand-written loops, orders, and bad axes."""

import pytest
import torch

from prodint.algebra import hadamard
from prodint.interaction import (
    Contract,
    Parameter,
    Pointwise,
    Product,
    Signal,
    Sum,
    compile,
    evaluate,
)
from prodint.interaction.recurrence import Recurrence
from prodint.interaction.selection import Select, Stack

C, H = 3, 4


def elman() -> Recurrence:
    """``h_t = tanh(W x_t + U h_{t-1})`` over ``X[t, c]``."""
    x, h = Signal("x", [("c", C)]), Signal("h", [("h", H)])
    cell = Pointwise("tanh", Sum(Contract(x, Parameter("W", [("c", C), ("o", H)]), "c"),
                                 Contract(Signal("h", [("h", H)]), Parameter(
                                     "U", [("h", H), ("o", H)]), "h")))
    del h
    from prodint.interaction import Rename

    return Recurrence(Rename(cell, {"o": "h"}), Signal("X", [("t", None), ("c", C)]),
                      step="x", state="h")


def gated(initial: bool = False) -> Recurrence:
    """``h_t = σ(x_t W) ⊙ h_{t-1} + x_t V`` per ``b``: one Hadamard gate on the state, order 2."""
    x, h = Signal("x", [("b", 2), ("c", C)]), Signal("h", [("b", 2), ("h", H)])
    gate = Pointwise("sigmoid", Contract(x, Parameter("W", [("c", C), ("h", H)]), "c"))
    cell = Sum(Product(gate, h, hadamard(H), "h"),
               Contract(x, Parameter("V", [("c", C), ("h", H)]), "c"))
    # the sequence with time in the middle: the node must find it by name
    seq = Signal("X", [("b", 2), ("t", None), ("c", C)])
    h0 = Signal("h0", [("h", H), ("b", 2)], order=0) if initial else None
    return Recurrence(cell, seq, step="x", state="h", initial=h0)


def test_gated_reference_and_kernel_equal_hand_loop() -> None:
    torch.manual_seed(0)
    rec = gated(initial=True)
    w, v = torch.randn(C, H, dtype=torch.float64), torch.randn(C, H, dtype=torch.float64)
    x = torch.randn(5, 2, 7, C, dtype=torch.float64)
    h0 = torch.randn(5, H, 2, dtype=torch.float64)
    h, states = h0.transpose(1, 2), []  # the node aligns h0's axes to the state's order
    for t in range(7):
        xt = x[:, :, t]
        h = torch.sigmoid(xt @ w) * h + xt @ v
        states.append(h)
    expected = torch.stack(states, 1)  # [5, t, b, h]
    params = {"W": w, "V": v}
    got = evaluate(rec, {"X": x, "h0": h0}, params)
    assert got.shape == (5, 7, 2, H)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    module = compile(rec, dtype=torch.float64)
    module.load_state_dict({"params.W": w, "params.V": v})
    torch.testing.assert_close(module(x, h0), expected, rtol=1e-12, atol=1e-12)


def test_elman_zero_initial_and_axes() -> None:
    torch.manual_seed(1)
    rec = elman()
    w, u = torch.randn(C, H, dtype=torch.float64), torch.randn(H, H, dtype=torch.float64)
    x = torch.randn(3, 6, C, dtype=torch.float64)
    h, states = torch.zeros(3, H, dtype=torch.float64), []
    for t in range(6):
        h = torch.tanh(x[:, t] @ w + h @ u)
        states.append(h)
    got = evaluate(rec, {"X": x}, {"W": w, "U": u})
    torch.testing.assert_close(got, torch.stack(states, 1), rtol=1e-12, atol=1e-12)
    assert rec.axis_names == ("t", "h")
    assert [p.name for p in rec.parameters()] == ["W", "U"]
    assert [s.name for s in rec.signals()] == ["X"]
    assert "rec_t" in str(rec)


def test_orders() -> None:
    assert elman().step_order == 1 and elman().self_interaction_order == 1
    rec = gated()
    assert rec.step_order == 2 and rec.self_interaction_order == 2
    # a second layer reads an order-2 sequence: one step is then of order 2·2
    from prodint.interaction import Rename

    x, h = Signal("x", [("b", 2), ("h2", H)]), Signal("h", [("b", 2), ("h", H)])
    cell = Sum(Product(Pointwise("sigmoid", Contract(x, Parameter("W2", [("h2", H), ("h", H)]),
                                                     "h2")), h, hadamard(H), "h"),
               Contract(x, Parameter("V2", [("h2", H), ("h", H)]), "h2"))
    top = Recurrence(cell, Rename(rec, {"h": "h2"}), step="x", state="h")
    assert top.self_interaction_order == 4


def test_state_orders_follow_the_cell_rule() -> None:
    # Elman: tanh(W x + U h) has the order of its argument, max(1, ord(h)) = 1 at every step
    assert elman().state_orders(6) == [1] * 6 and elman().order_at(50) == 1
    # σ(x W) ⊙ h + x V: the gate does not read h, so ord(h_t) = max(1 + ord(h_{t-1}), 1)
    # from the zero state (order 0): 1, 2, 3, …
    rec = gated()
    assert rec.state_orders(5) == [1, 2, 3, 4, 5]
    assert rec.order_at(5) == 5 and rec.order_at(1) == 1
    # an order-0 initial state starts the count the same way
    assert gated(initial=True).state_orders(3) == [1, 2, 3]
    # inputs whose order varies along time (a sequence made by another recurrence)
    assert rec.state_orders(3, step_orders=[3, 1, 1]) == [3, 4, 5]
    # the last gate has order 7 and multiplies h_1 of order 2
    assert rec.order_at(3, step_orders=[1, 1, 7]) == 9
    with pytest.raises(ValueError, match=r"length: expected a positive int, received 0"):
        rec.state_orders(0)
    with pytest.raises(ValueError, match=r"step_orders: expected 3 non-negative ints"):
        rec.state_orders(3, step_orders=[1, 1])
    with pytest.raises(ValueError, match=r"step_orders: expected 2 non-negative ints"):
        rec.state_orders(2, step_orders=[1, -1])


def test_order_with_replaces_signal_orders() -> None:
    from prodint.interaction.orders import order_with

    x, y = Signal("x", [("h", H)]), Signal("y", [("h", H)])
    expr = Sum(Product(x, Pointwise("sigmoid", y), hadamard(H), "h"), y)
    assert expr.self_interaction_order == 2
    # ord = max(ord(x) + ord(y), ord(y)) under the product and sum rules
    assert order_with(expr, {"x": 4, "y": 3}) == 7
    assert order_with(expr, {"x": 0}) == 1
    assert order_with(expr, {}) == 2


def test_select_and_stack() -> None:
    u = Signal("U", [("s", 3), ("h", H)])
    v = Signal("V", [("h", H)])
    stacked = Stack([Select(u, "s", 2), v], "k")
    assert stacked.axis_names == ("k", "h") and stacked.axes[0].size == 2
    a, b = torch.randn(5, 3, H), torch.randn(5, H)
    out = evaluate(stacked, {"U": a, "V": b}, {})
    torch.testing.assert_close(out, torch.stack([a[:, 2], b], 1))
    with pytest.raises(ValueError, match=r"index: expected -3 ≤ index < 3"):
        Select(u, "s", 3)
    with pytest.raises(ValueError, match=r"index: expected -3 ≤ index < 3"):
        Select(u, "s", -4)
    # a negative index counts from the end, also along a free axis
    torch.testing.assert_close(evaluate(Select(u, "s", -1), {"U": a}, {}), a[:, 2])
    seq = Signal("X", [("t", None), ("h", H)])
    x = torch.randn(2, 5, H)
    torch.testing.assert_close(evaluate(Select(seq, "t", -1), {"X": x}, {}), x[:, 4])
    assert str(Select(seq, "t", -1)) == "X[t=-1]"
    with pytest.raises(ValueError, match=r"terms\[1\]: expected axes"):
        Stack([v, Signal("W", [("g", H)])], "k")
    with pytest.raises(ValueError, match=r"axis: expected a new axis name"):
        Stack([v, v], "h")


def test_bad_axes() -> None:
    x, h = Signal("x", [("c", C)]), Signal("h", [("h", H)])
    cell = Sum(Contract(x, Parameter("W", [("c", C), ("h", H)]), "c"), h)
    seq = Signal("X", [("t", None), ("c", C)])
    with pytest.raises(ValueError, match=r"time: expected an axis of the sequence.*'s'"):
        Recurrence(cell, seq, step="x", state="h", time="s")
    with pytest.raises(ValueError, match=r"sequence: expected axes \[c=3\].*received \[c=5\]"):
        Recurrence(cell, Signal("X", [("t", None), ("c", 5)]), step="x", state="h")
    with pytest.raises(ValueError, match=r"step: expected the name of a signal.*'y'"):
        Recurrence(cell, seq, step="y", state="h")
    with pytest.raises(ValueError, match=r"initial: expected axes \[h=4\].*received \[h=2\]"):
        Recurrence(cell, seq, step="x", state="h",
                   initial=Signal("h0", [("h", 2)], order=0))
    wrong = Contract(x, Parameter("W", [("c", C), ("g", H)]), "c")
    with pytest.raises(ValueError, match=r"cell: expected axes \[h=4\].*received \[g=4\]"):
        Recurrence(Sum(wrong, Contract(h, Parameter("U", [("h", H), ("g", H)]), "h")), seq,
                   step="x", state="h")
    with pytest.raises(ValueError, match=r"state: expected fixed axis sizes"):
        free = Signal("h", [("h", None)])
        Recurrence(Sum(Contract(x, Parameter("W", [("c", C), ("h", H)]), "c"), free), seq,
                   step="x", state="h")


def test_substitution_reaches_cell_parameters() -> None:
    rec = gated()
    renamed = rec.substitute("V", Parameter("V2", [("c", C), ("h", H)]))
    assert isinstance(renamed, Recurrence)
    assert [p.name for p in renamed.parameters()] == ["W", "V2"]
    with pytest.raises(ValueError, match=r"replaced by a parameter only"):
        rec.substitute("V", Signal("Z", [("c", C), ("h", H)]))
