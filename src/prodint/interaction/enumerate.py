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

from prodint.checks import check_choice, check_count, check_int, check_names, describe
from prodint.interaction.arguments import check_parameter_size
from prodint.interaction.axes import ProductAlgebra, check_algebra
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


#: The most interactions one call builds (each is a tree of nodes; the count grows
#: faster than exponentially in the order).
MAX_INTERACTIONS = 10_000


def count_interactions(max_order: int, commutative: Sequence[bool], functions: int,
                       limit: int | None = None) -> int:
    """How many interactions :func:`enumerate_interactions` builds, counted without building
    them: ``N_1 = 1`` and, for order ``k``, every pair of interactions of orders ``i + j = k``
    per algebra (unordered for a commutative one) times ``1 + functions`` (the bare product
    and each pointwise function). Counting stops once the total passes ``limit``."""
    by_order = [0, 1]
    total = 1
    for k in range(2, max_order + 1):
        ordered = sum(by_order[i] * by_order[k - i] for i in range(1, k))
        half = by_order[k // 2]
        unordered = (ordered + (half if k % 2 == 0 else 0)) // 2
        n = sum(unordered if c else ordered for c in commutative) * (1 + functions)
        by_order.append(n)
        total += n
        if limit is not None and total > limit:
            break
    return total


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

    Raises:
        TypeError: an argument of the wrong kind (an algebra that is not one).
        ValueError: a ``max_order`` or ``channels`` below 1, no algebras, an unknown
            function, more than :data:`MAX_INTERACTIONS` interactions (counted first,
            :func:`count_interactions`), or parameters too large for memory.
    """
    check_int(max_order, "max_order", minimum=1)
    if isinstance(algebras, str) or not isinstance(algebras, Sequence):
        raise TypeError(f"algebras: expected a sequence of algebras, received "
                        f"{describe(algebras)}")
    algebras = [check_algebra(a, f"algebras[{i}]") for i, a in enumerate(algebras)]
    if not algebras:
        raise ValueError("algebras: expected at least one algebra, received none")
    check_int(channels, "channels", minimum=1)
    pointwise = check_names(pointwise, "pointwise")
    for i, fn in enumerate(pointwise):
        check_choice(fn, f"pointwise[{i}]", sorted(ELEMENTWISE))
    check_parameter_size([channels, max(channels, *(a.dim for a in algebras))], "channels",
                         "largest projection")
    count = count_interactions(max_order, [_commutative(a) for a in algebras],
                               len(set(pointwise)), MAX_INTERACTIONS)
    check_count(count, "max_order", "interactions", MAX_INTERACTIONS)
    x = Signal("X", [("t", None), ("c", channels)])
    out: list[Expr] = [Rename(Contract(x, Parameter("W1", [("c", channels), ("o", channels)]),
                                       over="c"), {"o": "c"})]
    for shape in _shapes(max_order, algebras, pointwise)[1:]:
        out.append(_build(shape, x, algebras, [0]))
    return out
