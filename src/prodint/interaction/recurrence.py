"""Nonlinear state recurrences along a time axis.

A :class:`Recurrence` runs a *cell* — itself an interaction expression over two signals, the
input at one time step ``x`` and the previous state ``h`` — along the time axis of a
sequence::

    h_t = cell(x_t, h_{t-1}),    h_{-1} = h0 (zeros by default),    t = 0, …, T-1.

Its value is every state, ``[*batch, t, *state_axes]``. Elman, GRU and LSTM layers are such
recurrences; their gates are Hadamard products (:func:`prodint.algebra.hadamard`) of a
squashed projection with the state or a candidate. A recurrence states two orders: the
order of one step (its ``self_interaction_order``) and the order of every state along the
sequence (:meth:`Recurrence.state_orders`), which grows with the length for gated cells.

:class:`~prodint.interaction.selection.Select` and :class:`~prodint.interaction.selection.Stack`
(:mod:`prodint.interaction.selection`) carry an LSTM's pair ``(h, c)`` as one state with a
component axis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from prodint.checks import check_name
from prodint.interaction.axes import Axis, axis_names, find_axis
from prodint.interaction.compile import evaluate
from prodint.interaction.expr import (
    Expr,
    Kernel,
    Parameter,
    Signal,
    align,
    check_expr,
    make_aligner,
)
from prodint.interaction.orders import order_with


def _describe(axes: Sequence[Axis]) -> str:
    return "[" + ", ".join(repr(a) for a in axes) + "]"


def check_same_axes(received: Sequence[Axis], expected: Sequence[Axis], *, argument: str,
                     what: str) -> None:
    """Same axis names (any order) with compatible sizes (a free size matches any)."""
    rnames, enames = axis_names(received), axis_names(expected)
    ok = sorted(rnames) == sorted(enames) and all(
        a.size is None or b.size is None or a.size == b.size
        for a in received for b in expected if a.name == b.name)
    if not ok:
        raise ValueError(f"{argument}: expected axes {_describe(expected)} ({what}), received "
                         f"{_describe(received)}")


class Recurrence(Expr):
    """All states of ``h_t = cell(x_t, h_{t-1})``, ``h_{-1} = h0``, along axis ``time``.

    Args:
        cell: the update, an expression over exactly two order-1 signals, ``step`` (the input
            at one time step) and ``state`` (the previous state), whose value carries the
            state's axes (the next state).
        sequence: the inputs ``x``, with axis ``time`` and, besides it, the axes of ``step``.
        step: name of the cell's input signal.
        state: name of the cell's state signal; its axes need fixed sizes.
        time: the name of the time axis of ``sequence`` and of the value.
        initial: ``h0``, an expression with the state's axes (typically an order-0 signal or
            a parameter); zeros when ``None``.

    Value: ``[*batch, time, *state_axes]`` with ``value[..., t, ...] = h_t``.

    Self-interaction order: two numbers, both derived from the cell by the order rules.

    - *Per step* (:attr:`step_order`, and the number :attr:`self_interaction_order`
      returns): one update with the previous state counted as much as what the recurrence
      carries. With ``s`` the cell's order when ``x`` and ``h`` both have order 1 (Elman
      ``tanh(W x + U h + b)``: ``s = 1``; LSTM ``c' = f ⊙ c + i ⊙ g``, ``h' = o ⊙ tanh(c')``
      and GRU ``h' = n + z ⊙ (h - n)``, ``n = tanh(W x + r ⊙ U h)``: ``s = 3``), the
      recurrence reports ``s · c`` with ``c = max(ord(sequence), ord(initial))``: the cell's
      order with ``x`` and ``h`` both of order ``c`` (the rules are homogeneous). It is finite
      and composes: a layer reading an order-``s`` sequence reports ``s · s'``.
    - *Along the sequence* (:meth:`state_orders`, :meth:`order_at`): the exact order of every
      state, the cell's rule applied step after step, ``o_t = rule(ord(x_t), o_{t-1})`` with
      ``o_{-1} = ord(initial)``. Elman's stays 1 (a pointwise function keeps the order of its
      argument). In a gated cell the gates read the state, so a gate times the state adds the
      state's order to itself: a GRU's states have orders ``2, 6, 18, … = 2·3^t``, an
      LSTM's ``3, 9, 27, … = 3^(t+1)``; the order of ``h_T`` is unbounded in ``T``.

    The zero initial state (``initial=None``) counts as an order-0 constant; a term it
    multiplies away is then still counted, so :meth:`state_orders` is an upper bound in
    general, and exact where such terms are dominated (the Elman, GRU and LSTM cells).

    Evaluation: :meth:`reference` loops over time evaluating the cell with
    :func:`~prodint.interaction.compile.evaluate`; :meth:`kernel` loops over time running the
    cell's compiled closures. The cell's parameters are children of the recurrence (after
    ``sequence`` and ``initial``), so :func:`~prodint.interaction.layer.compile` registers
    them and substitution reaches them (a parameter may be replaced by another parameter
    only: a data-dependent weight would need a value per time step).
    """

    def __init__(self, cell: Expr, sequence: Expr, *, step: str, state: str, time: str = "t",
                 initial: Expr | None = None):
        check_expr(cell, "cell")
        check_expr(sequence, "sequence")
        check_expr(initial, "initial", optional=True)
        signals = {s.name: s for s in cell.signals()}
        for argument, name in (("step", step), ("state", state)):
            check_name(name, argument)
            if name not in signals:
                raise ValueError(f"{argument}: expected the name of a signal of the cell (one of "
                                 f"{sorted(signals)}), received {name!r}")
            if signals[name].order != 1:
                raise ValueError(f"{argument}: expected an order-1 signal, received {name!r} of "
                                 f"order {signals[name].order}")
        if step == state:
            raise ValueError(f"state: expected a signal other than step {step!r}, received "
                             f"{state!r}")
        extra = sorted(set(signals) - {step, state})
        if extra:
            raise ValueError(f"cell: expected signals {step!r} and {state!r} only, received "
                             f"also {extra}")
        x_sig, h_sig = signals[step], signals[state]
        t_index = find_axis(sequence.axes, time, argument="time", owner="the sequence")
        check_same_axes([a for a in sequence.axes if a.name != time], x_sig.axes,
                         argument="sequence",
                         what=f"those of the cell's input {step!r} besides time {time!r}")
        if time in h_sig.axis_names:
            raise ValueError(f"time: expected an axis name not in the state {state!r} "
                             f"{_describe(h_sig.axes)}, received {time!r}")
        free = [a.name for a in h_sig.axes if a.size is None]
        if free:
            raise ValueError(f"state: expected fixed axis sizes for {state!r}, received free "
                             f"axes {free}")
        check_same_axes(cell.axes, h_sig.axes, argument="cell",
                         what=f"those of the state {state!r}: the cell's value is the next "
                              "state")
        if initial is not None:
            check_same_axes(initial.axes, h_sig.axes, argument="initial",
                             what=f"those of the state {state!r}")
        self.cell, self.step, self.state, self.time = cell, step, state, time
        self.initial = initial
        self.step_signal, self.state_signal = x_sig, h_sig
        self.cell_parameters: tuple[Parameter, ...] = tuple(cell.parameters())
        self.children = (sequence, *(() if initial is None else (initial,)),
                         *self.cell_parameters)
        self.axes = (Axis(time, sequence.axes[t_index].size), *h_sig.axes)
        self._rules: dict[tuple[int, int], int] = {}

    # ------------------------------------------------------------- structure
    @property
    def sequence(self) -> Expr:
        return self.children[0]

    @property
    def step_order(self) -> int:
        """Order of one step, ``x`` and ``h`` both counted as the signal (class doc)."""
        return self.cell.self_interaction_order

    @property
    def self_interaction_order(self) -> int:
        """The per-step order ``step_order · max(ord(sequence), ord(initial))`` (class doc);
        the order of the states along a sequence is :meth:`state_orders`."""
        return self.step_order * self._carried()

    def _carried(self) -> int:
        carried = self.sequence.self_interaction_order
        if self.initial is not None:
            carried = max(carried, self.initial.self_interaction_order)
        return carried

    def state_orders(self, length: int, *, step_orders: Sequence[int] | None = None,
                     ) -> list[int]:
        """``[ord(h_0), …, ord(h_{length-1})]``: the cell's order rule applied step by step.

        Args:
            length: ``T``, the number of steps (at least 1).
            step_orders: ``ord(x_t)`` for every step; by default ``ord(sequence)`` at every
                step, which is exact when the sequence is the same kind of term at every step
                (a signal, a map of it). A sequence that is the output of recurrences has
                orders that vary along time: pass them here
                (:class:`~prodint.zoo.recurrent.RecurrentLayer` does for its stack).
        """
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise ValueError(f"length: expected a positive int, received {length!r}")
        if step_orders is None:
            step_orders = [self.sequence.self_interaction_order] * length
        step_orders = list(step_orders)
        if len(step_orders) != length or not all(
                isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in step_orders):
            raise ValueError(f"step_orders: expected {length} non-negative ints, received "
                             f"{step_orders!r}")
        order = 0 if self.initial is None else self.initial.self_interaction_order
        out = []
        for x_order in step_orders:
            order = self._rule(x_order, order)
            out.append(order)
        return out

    def order_at(self, length: int, *, step_orders: Sequence[int] | None = None) -> int:
        """The order of the value on ``length`` steps, ``max_t ord(h_t)`` (:meth:`state_orders`)."""
        return max(self.state_orders(length, step_orders=step_orders))

    def _rule(self, x_order: int, h_order: int) -> int:
        """``ord(cell)`` with ``ord(x) = x_order`` and ``ord(h) = h_order``, memoised."""
        key = (x_order, h_order)
        if key not in self._rules:
            self._rules[key] = order_with(self.cell, {self.step: x_order, self.state: h_order})
        return self._rules[key]

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        k = 1 if self.initial is None else 2
        cell = self.cell
        for old, new in zip(self.cell_parameters, children[k:], strict=True):
            if new is old:
                continue
            if not isinstance(new, Parameter):
                raise ValueError(f"replacement: a parameter of a recurrence's cell ({old.name!r}) "
                                 f"can be replaced by a parameter only, received {new}")
            cell = cell.substitute(old.name, new)
        return Recurrence(cell, children[0], step=self.step, state=self.state, time=self.time,
                          initial=children[1] if k == 2 else None)

    def __str__(self) -> str:
        h0 = "0" if self.initial is None else str(self.initial)
        return (f"rec_{self.time}({self.state} ← {self.cell}; {self.step} = {self.sequence}, "
                f"{self.state}₋₁ = {h0})")

    # ------------------------------------------------------------- evaluation
    def _split(self, values: Sequence[Tensor]) -> tuple[Tensor, Tensor | None, list[Tensor]]:
        k = 1 if self.initial is None else 2
        return values[0], (values[1] if k == 2 else None), list(values[k:])

    def _unroll(self, values: Sequence[Tensor],
                update: Callable[[Tensor, Tensor, list[Tensor]], Tensor],
                state_from_cell: Callable[[Tensor], Tensor]) -> Tensor:
        seq, h0, params = self._split(values)
        step_names = self.step_signal.axis_names
        state_names = self.state_signal.axis_names
        # time first, then the step's own axis order: x_t is then one index away
        u = align(seq, self.sequence.axes, (self.time, *step_names))
        nb = u.dim() - 1 - len(step_names)
        batch = u.shape[:nb]
        state_shape = tuple(a.size for a in self.state_signal.axes)
        if h0 is None:
            h = u.new_zeros(*batch, *state_shape)  # type: ignore[misc]
        else:
            h0 = align(h0, self.initial.axes, state_names)  # type: ignore[union-attr]
            batch = torch.broadcast_shapes(batch, h0.shape[:h0.dim() - len(state_names)])
            h = h0.expand(*batch, *state_shape)  # type: ignore[misc]
        states = []
        for t in range(u.shape[nb]):
            h = state_from_cell(update(u.select(nb, t), h, params))
            states.append(h)
        if not states:
            return h.new_zeros(*h.shape[:len(batch)], 0, *state_shape)  # type: ignore[misc]
        return torch.stack(states, dim=len(batch))

    def reference(self, *values: Tensor) -> Tensor:
        names = [p.name for p in self.cell_parameters]

        def update(x: Tensor, h: Tensor, params: list[Tensor]) -> Tensor:
            return evaluate(self.cell, {self.step: x, self.state: h},
                            dict(zip(names, params, strict=True)))

        def restore(value: Tensor) -> Tensor:
            return align(value, self.cell.axes, self.state_signal.axis_names)

        return self._unroll(values, update, restore)

    def kernel(self) -> Kernel:
        """The unrolled loop over the cell's compiled closures, planned once here."""
        index = {p.name: i for i, p in enumerate(self.cell_parameters)}
        slot: dict[int, int] = {}
        plan: list[tuple[str, object, tuple[int, ...]]] = []
        for node in self.cell.walk():
            if getattr(node, "is_alias", False):
                slot[id(node)] = slot[id(node.children[0])]
                continue
            slot[id(node)] = len(plan)
            if isinstance(node, Signal):
                plan.append(("step" if node.name == self.step else "state", None, ()))
            elif isinstance(node, Parameter):
                plan.append(("param", index[node.name], ()))
            else:
                plan.append(("op", node.kernel(), tuple(slot[id(c)] for c in node.children)))
        output = slot[id(self.cell)]

        def update(x: Tensor, h: Tensor, params: list[Tensor]) -> Tensor:
            values: list[Tensor] = []
            for kind, payload, slots in plan:
                if kind == "op":
                    values.append(payload(*(values[i] for i in slots)))  # type: ignore[operator]
                elif kind == "param":
                    values.append(params[payload])  # type: ignore[index]
                else:
                    values.append(x if kind == "step" else h)
            return values[output]

        restore = make_aligner(self.cell.axes, self.state_signal.axis_names)

        def recurrence(*values: Tensor) -> Tensor:
            return self._unroll(values, update, restore)

        return recurrence
