"""The order of an expression when its signals carry other orders.

The order rules of :mod:`prodint.interaction.expr` count a signal as order 1 (0 for a side
input). A recurrence asks what its cell's order is when the input and the previous state
carry other orders (the state's grows along the sequence): :func:`order_with` answers by
rebuilding the expression over stand-in signals of those orders, so that every node's own
rule applies.
"""

from __future__ import annotations

from collections.abc import Mapping

from prodint.interaction.expr import Expr, Signal, replace_nodes

__all__ = ["order_with"]


class _OrderedLeaf(Signal):
    """A signal of any order (:class:`Signal` takes 0 or 1), to apply the node rules to
    other signal orders."""

    def __init__(self, signal: Signal, order: int):
        super().__init__(signal.name, signal.axes)
        self.order = order


def order_with(expr: Expr, orders: Mapping[str, int]) -> int:
    """``ord(expr)`` when signal ``name`` has order ``orders[name]`` instead of its own.

    The expression is rebuilt with the signals replaced (each node's own order rule then
    applies), so the result follows the rules of the module doc of
    :mod:`prodint.interaction.expr` for any non-negative signal orders; signals not named keep
    theirs. A recurrence's cell read this way gives the order of the next state from the
    orders of the input and the previous state.
    """
    def stand_in(node: Expr) -> Expr | None:
        if isinstance(node, Signal) and node.name in orders:
            return _OrderedLeaf(node, orders[node.name])
        return None

    return replace_nodes(expr, stand_in).self_interaction_order
