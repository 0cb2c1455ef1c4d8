"""Elman, GRU and LSTM cells: their expressions and their fast per-step updates.

Parameters use torch's names and layouts (``weight_ih_l{k}[_reverse]: [G·H, in]``,
``weight_hh_*: [G·H, H]``, ``bias_ih_*``, ``bias_hh_*: [G·H]``, gate blocks in torch's order),
so a torch state dict loads as it is. In the expressions a projection is a
:class:`~prodint.interaction.Contract` with such a parameter, the gate blocks are split off
with :class:`~prodint.interaction.SplitAxis` and :class:`~prodint.interaction.selection.Select`,
and every gate multiplies in the Hadamard algebra ``R^H``.

=========== ============================================================================ ====
cell        update (``σ`` sigmoid, ``⊙`` Hadamard product)                                step
=========== ============================================================================ ====
Elman       ``h' = tanh(W_i x + b_i + W_h h + b_h)`` (or ``relu``)                           1
GRU         ``r, z = σ(W_{ir,iz} x + b + W_{hr,hz} h + b)``,
            ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``, ``h' = n + z ⊙ (h - n)``       3
LSTM        ``i, f, o = σ(·)``, ``g = tanh(·)`` of ``W_i x + b_i + W_h h + b_h``,
            ``c' = f ⊙ c + i ⊙ g``, ``h' = o ⊙ tanh(c')``; state ``(h, c)`` stacked on ``s``  3
=========== ============================================================================ ====

The update functions take the input projection of one step, ``gi_t = W_i x_t (+ b)``, already
computed: a layer projects all its steps with one matmul and then only the state's matmul and
the gate arithmetic remain inside the loop over time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.interaction import (
    Expr,
    Flip,
    MergeAxes,
    Permute,
    Pointwise,
    Product,
    Rename,
    Scale,
    Signal,
    SplitAxis,
    Sum,
)
from prodint.interaction.axes import ProductAlgebra
from prodint.interaction.library import projection
from prodint.interaction.recurrence import Recurrence
from prodint.interaction.selection import Select, Stack

State = tuple[Tensor, ...]
Update = Callable[[Tensor, State], State]
CellBuilder = Callable[[int, str], Expr]


# --------------------------------------------------------------------------- expressions
def _gates(x: Expr, weight: str, bias: str | None, gates: int, hidden: int, axis: str) -> Expr:
    """``W x (+ b)`` with the ``G·H`` outputs split into ``k`` (gate) × ``h`` (unit)."""
    y = projection(x, weight, gates * hidden, axis=axis, out_axis="g", bias=bias,
                   torch_layout=True)
    return SplitAxis(y, "g", [("k", gates), ("h", hidden)])


def elman_cell(input_size: int, hidden: int, suffix: str, *, bias: bool,
               nonlinearity: str) -> Expr:
    """``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` over signals ``x[c]``, ``h[h]``."""
    x = Signal("x", [("c", input_size)])
    h = Signal("h", [("h", hidden)])
    pre = Sum(projection(x, f"weight_ih{suffix}", hidden, out_axis="g",
                         bias=f"bias_ih{suffix}" if bias else None, torch_layout=True),
              projection(h, f"weight_hh{suffix}", hidden, axis="h", out_axis="g",
                         bias=f"bias_hh{suffix}" if bias else None, torch_layout=True))
    return Pointwise(nonlinearity, Rename(pre, {"g": "h"}))


def gru_cell(input_size: int, hidden: int, suffix: str, *, bias: bool,
             algebra: ProductAlgebra) -> Expr:
    """The GRU update (module doc) over signals ``x[c]``, ``h[h]``; gates in ``algebra``."""
    x = Signal("x", [("c", input_size)])
    h = Signal("h", [("h", hidden)])
    gi = _gates(x, f"weight_ih{suffix}", f"bias_ih{suffix}" if bias else None, 3, hidden, "c")
    gh = _gates(h, f"weight_hh{suffix}", f"bias_hh{suffix}" if bias else None, 3, hidden, "h")
    r = Pointwise("sigmoid", Sum(Select(gi, "k", 0), Select(gh, "k", 0)))
    z = Pointwise("sigmoid", Sum(Select(gi, "k", 1), Select(gh, "k", 1)))
    n = Pointwise("tanh", Sum(Select(gi, "k", 2),
                              Product(r, Select(gh, "k", 2), algebra, "h")))
    return Sum(n, Product(z, Sum(h, Scale(n, -1.0)), algebra, "h"))


def lstm_cell(input_size: int, hidden: int, suffix: str, *, bias: bool,
              algebra: ProductAlgebra) -> Expr:
    """The LSTM update over ``x[c]`` and the pair ``S[s=2, h] = (h, c)``; gates in ``algebra``."""
    x = Signal("x", [("c", input_size)])
    s = Signal("S", [("s", 2), ("h", hidden)])
    h, c = Select(s, "s", 0), Select(s, "s", 1)
    gates = Sum(_gates(x, f"weight_ih{suffix}", f"bias_ih{suffix}" if bias else None, 4,
                       hidden, "c"),
                _gates(h, f"weight_hh{suffix}", f"bias_hh{suffix}" if bias else None, 4,
                       hidden, "h"))
    i, f, o = (Pointwise("sigmoid", Select(gates, "k", j)) for j in (0, 1, 3))
    g = Pointwise("tanh", Select(gates, "k", 2))
    c_next = Sum(Product(f, c, algebra, "h"), Product(i, g, algebra, "h"))
    h_next = Product(o, Pointwise("tanh", c_next), algebra, "h")
    return Stack([h_next, c_next], "s")


def suffix(layer: int, reverse: bool) -> str:
    """torch's parameter-name suffix: ``_l{layer}`` and ``_reverse`` for the backward pass."""
    return f"_l{layer}" + ("_reverse" if reverse else "")


def stacked_expression(cell: CellBuilder, input_size: int, hidden: int, num_layers: int,
                       bidirectional: bool, state_axes: Sequence[tuple[str, int]],
                       ) -> tuple[Expr, list[Recurrence]]:
    """The whole layer stack over ``X[t, c]`` and its recurrences, in torch's state order.

    ``cell(in_size, suffix)`` builds one cell with step signal ``x[c]``; its state signal is
    the only other one. Layer ``l``, direction ``d`` starts from the order-0 signal
    ``h0{suffix}`` with ``state_axes``; the backward direction is ``flip(rec(flip(X)))``.
    The value is the top layer's output ``[t, c]`` with ``c = D·H`` (directions concatenated,
    forward first); for a paired state (axis ``s``) the output is component ``s = 0``.
    """
    seq: Expr = Signal("X", [("t", None), ("c", input_size)])
    recurrences: list[Recurrence] = []
    for layer in range(num_layers):
        outputs: list[Expr] = []
        in_size = input_size if layer == 0 else hidden * (2 if bidirectional else 1)
        for reverse in (False, True) if bidirectional else (False,):
            name = suffix(layer, reverse)
            body = cell(in_size, name)
            state = next(s.name for s in body.signals() if s.name != "x")
            h0 = Signal(f"h0{name}", list(state_axes), order=0)
            rec = Recurrence(body, Flip(seq, "t") if reverse else seq, step="x", state=state,
                             time="t", initial=h0)
            recurrences.append(rec)
            out: Expr = Select(rec, "s", 0) if "s" in rec.axis_names else rec
            outputs.append(Flip(out, "t") if reverse else out)
        if len(outputs) == 1:
            seq = Rename(outputs[0], {"h": "c"})
        else:
            both = Permute(Stack(outputs, "d"), ("t", "d", "h"))
            seq = MergeAxes(both, ["d", "h"], "c")
    return seq, recurrences


# --------------------------------------------------------------------------- fast updates
def elman_update(w_hh_t: Tensor, relu: bool) -> Update:
    """``(gi_t, (h,)) ↦ (act(gi_t + h W_hhᵀ),)``; ``gi_t`` holds both biases.

    ``w_hh_t`` is ``W_hhᵀ`` stored contiguously: a plain ``mm`` against it and a separate add
    run several times faster than ``addmm`` against the transposed view at these sizes.
    """
    act = torch.relu if relu else torch.tanh

    def update(gi: Tensor, state: State) -> State:
        return (act(gi + torch.mm(state[0], w_hh_t)),)

    return update


def gru_update(w_hh_t: Tensor, b_hn: Tensor | None, hidden: int) -> Update:
    """One GRU step from ``gi_t``, which holds ``b_ih`` and the ``r, z`` blocks of ``b_hh``;
    ``b_hn`` stays inside ``r ⊙ (W_hn h + b_hn)``. ``h' = lerp(n, h, z) = n + z ⊙ (h - n)``."""

    def update(gi: Tensor, state: State) -> State:
        h = state[0]
        gh_rz, gh_n = torch.mm(h, w_hh_t).split(2 * hidden, -1)
        gi_rz, gi_n = gi.split(2 * hidden, -1)
        r, z = torch.sigmoid(gi_rz + gh_rz).chunk(2, -1)
        n = torch.tanh(torch.addcmul(gi_n, r, gh_n if b_hn is None else gh_n + b_hn))
        return (torch.lerp(n, h, z),)

    return update


def lstm_update(w_hh_t: Tensor, hidden: int) -> Update:
    """One LSTM step from ``gi_t = W_ih x_t + b_ih + b_hh``: state ``(h, c) ↦ (h', c')``.

    Sigmoid and tanh each run over all four blocks and the unused ones are dropped: on a
    contiguous ``[B, 4H]`` tensor that is cheaper than three sigmoids and a tanh over strided
    column blocks, which torch's CPU kernels do not vectorise.
    """
    g_block = slice(2 * hidden, 3 * hidden)

    def update(gi: Tensor, state: State) -> State:
        h, c = state
        gates = gi + torch.mm(h, w_hh_t)
        i, f, _, o = torch.sigmoid(gates).chunk(4, -1)
        g = torch.tanh(gates)[:, g_block]
        c = torch.addcmul(f * c, i, g)
        return o * torch.tanh(c), c

    return update


def input_projection(x: Tensor, w_ih: Tensor, bias: Tensor | None) -> Tensor:
    """``x W_ihᵀ + bias`` for every step at once (one matmul over ``[T·B, C]``)."""
    return F.linear(x, w_ih, bias)


def run_direction(gi: Tensor, state: State, update: Update, reverse: bool,
                  ) -> tuple[Tensor, State]:
    """Run ``update`` over the precomputed projections ``gi: [T, B, G·H]``.

    Returns the outputs ``[T, B, H]`` (at their own time index, also when ``reverse``) and
    the final state.
    """
    steps = gi.unbind(0)
    outputs: list[Tensor] = [gi] * len(steps)
    for t in range(len(steps) - 1, -1, -1) if reverse else range(len(steps)):
        state = update(steps[t], state)
        outputs[t] = state[0]
    return torch.stack(outputs), state
