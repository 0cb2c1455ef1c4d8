"""The design space: every product interaction up to a given order.

Over a signal ``X[t, c]`` and a set of algebras, the interactions are built as follows:
order 1 is a linear map of the signal, and an interaction of order ``k = i + j`` is the
multiplication operator ``L_out(L_1(u) ·_A L_2(v))`` applied to interactions ``u`` of order ``i``
and ``v`` of order ``j`` (``L`` are learned projections ``c → dim A → c``). Optionally a pointwise
function is applied to each product. Expressions are generated once each up to renaming of
their parameters: two are the same when their trees agree after dropping parameter names, and
for a commutative algebra ``u·v`` and ``v·u`` are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prodint.interaction.axes import ProductAlgebra
from prodint.interaction.expr import Expr, Parameter, Signal
from prodint.interaction.pointwise import ELEMENTWISE, Pointwise
from prodint.interaction.products import Contract, Product
from prodint.interaction.structural import Rename


@dataclass(frozen=True)
class _Shape:
    """An interaction's tree without parameter names (its identity up to renaming)."""

    algebra: int | None = None  # index into the algebra list; None for the signal itself
    left: _Shape | None = None
    right: _Shape | None = None
    fn: str | None = None

    @property
    def order(self) -> int:
        if self.left is None or self.right is None:
            return 1
        return self.left.order + self.right.order

    def key(self) -> str:
        if self.left is None or self.right is None:
            return "X"
        inner = f"A{self.algebra}({self.left.key()},{self.right.key()})"
        return f"{self.fn}({inner})" if self.fn else inner


def _commutative(algebra: ProductAlgebra) -> bool:
    test = getattr(algebra, "is_commutative", None)
    if test is not None:
        return bool(test())
    g = algebra.structure_constants
    return bool((g - g.transpose(0, 1)).abs().max() == 0)


def _shapes(max_order: int, algebras: Sequence[ProductAlgebra],
            pointwise: Sequence[str]) -> list[_Shape]:
    commutative = [_commutative(a) for a in algebras]
    by_order: dict[int, dict[str, _Shape]] = {1: {"X": _Shape()}}
    for k in range(2, max_order + 1):
        found: dict[str, _Shape] = {}
        for i in range(1, k):
            for u in by_order[i].values():
                for v in by_order[k - i].values():
                    for ai in range(len(algebras)):
                        left, right = u, v
                        if commutative[ai] and left.key() > right.key():
                            left, right = right, left
                        for fn in (None, *pointwise):
                            shape = _Shape(ai, left, right, fn)
                            found.setdefault(shape.key(), shape)
        by_order[k] = found
    return [s for k in sorted(by_order) for _, s in sorted(by_order[k].items())]


def _build(shape: _Shape, x: Signal, algebras: Sequence[ProductAlgebra],
           counter: list[int]) -> Expr:
    """The expression of ``shape`` with fresh parameters ``W1, W2, …`` (``[t, c]`` valued)."""
    c = x.axes[1].size

    def param(in_axis: str, in_size: int | None, out_axis: str, out_size: int | None) -> Parameter:
        counter[0] += 1
        return Parameter(f"W{counter[0]}", [(in_axis, in_size), (out_axis, out_size)])

    if shape.left is None or shape.right is None:
        return x
    algebra = algebras[shape.algebra]  # type: ignore[index]
    n = algebra.dim
    u = _build(shape.left, x, algebras, counter)
    v = _build(shape.right, x, algebras, counter)
    lu = Contract(u, param("c", c, "a", n), over="c")
    lv = Contract(v, param("c", c, "a", n), over="c")
    prod: Expr = Product(lu, lv, algebra, "a")
    if shape.fn:
        prod = Pointwise(shape.fn, prod)
    out = Contract(prod, param("a", n, "o", c), over="a")
    return Rename(out, {"o": "c"})


def enumerate_interactions(max_order: int, algebras: Sequence[ProductAlgebra], *,
                           channels: int = 8, pointwise: Sequence[str] = ()) -> list[Expr]:
    """All distinct interactions of order 1 … ``max_order`` over ``algebras``.

    Args:
        max_order: the highest self-interaction order generated (≥ 1).
        algebras: the algebras products may use.
        channels: channels of the signal ``X[t, c]``.
        pointwise: elementwise functions that may follow a product (e.g. ``("silu",)``).

    Returns:
        Expressions ordered by order, then by structure; each maps ``X[t, c]`` to ``[t, c]``
        and compiles with :func:`prodint.interaction.compile`. Order 1 is the dense map
        ``Σ_c X W``.
    """
    if not isinstance(max_order, int) or max_order < 1:
        raise ValueError(f"max_order: expected an int >= 1, received {max_order!r}")
    algebras = list(algebras)
    if not algebras:
        raise ValueError("algebras: expected at least one algebra, received none")
    for fn in pointwise:
        if fn not in ELEMENTWISE:
            raise ValueError(f"pointwise: expected names from {sorted(ELEMENTWISE)}, "
                             f"received {fn!r}")
    x = Signal("X", [("t", None), ("c", channels)])
    out: list[Expr] = [Rename(Contract(x, Parameter("W1", [("c", channels), ("o", channels)]),
                                       over="c"), {"o": "c"})]
    for shape in _shapes(max_order, algebras, pointwise)[1:]:
        out.append(_build(shape, x, algebras, [0]))
    return out
