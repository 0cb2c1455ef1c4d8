"""Finite groups given by Cayley tables.

A finite group of order ``n`` is stored as an ``[n, n]`` ``torch.long`` tensor ``table`` with
``table[a, b]`` the index of the product ``a * b``. Elements are identified with the integers
``0 .. n-1``; everything else (identity, inverses, generators, names) is derived from or attached
to that table.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch

from prodint.checks import check_int
from prodint.groups.cayley import CHUNK_ENTRIES, as_table, validate_table
from prodint.groups.checks import check_budget, check_kind, check_name, check_names
from prodint.groups.frozen import FrozenSlots

__all__ = [
    "Group",
    "cyclic",
    "dihedral",
    "direct_product",
    "symmetric",
    "symmetric_permutations",
]

# Orders above this are refused before any estimate (no table of 2^40 elements fits anywhere).
_LARGEST_ORDER = 1 << 40


def table_bytes(order: int, copies: int = 4) -> int:
    """The memory to build and keep a Cayley table of ``order`` elements: the long table, the
    temporaries of its construction and the copy its digest hashes (``copies`` tables)."""
    return 8 * order * order * copies


def _check_order(order: int, argument: str, what: str, copies: int = 4) -> None:
    check_budget(table_bytes(order, copies), argument, f"the Cayley table of {what}")


class Group(FrozenSlots):
    """An immutable finite group defined by its Cayley table.

    Attributes:
        order: number of elements ``n``.
        table: ``[n, n]`` long tensor, ``table[a, b]`` = index of ``a * b``.
        identity: index ``e`` with ``table[e, b] == b == table[b, e]``.
        inverse: ``[n]`` long tensor, ``table[a, inverse[a]] == identity``.
        element_names: one string per element.
        name: a short label such as ``"C4"`` or ``"D4"``.
        cyclic_shape: ``(n1, ..., nk)`` when the group is ``Z_n1 x ... x Z_nk`` indexed row-major
            by ``(i1, ..., ik)`` with componentwise addition mod ``n_i``; otherwise ``None``.

    Build groups with :meth:`from_cayley_table` or the constructors :func:`cyclic`,
    :func:`dihedral`, :func:`symmetric` and :func:`direct_product`.
    """

    __slots__ = (
        "_cyclic_shape",
        "_frozen",
        "_generators",
        "_hash",
        "_identity",
        "_inverse",
        "_name",
        "_names",
        "_table",
    )

    _table: torch.Tensor
    _identity: int
    _inverse: torch.Tensor
    _names: tuple[str, ...]
    _name: str
    _cyclic_shape: tuple[int, ...] | None
    _generators: tuple[int, ...] | None
    _hash: int

    def __init__(self) -> None:
        raise TypeError("Group: use Group.from_cayley_table(...) or cyclic/dihedral/symmetric")

    @classmethod
    def _trusted(
        cls,
        table: torch.Tensor,
        identity: int,
        inverse: torch.Tensor,
        names: Sequence[str],
        name: str,
        cyclic_shape: tuple[int, ...] | None,
    ) -> Group:
        """Build without re-checking the axioms (constructors that are correct by design)."""
        self = object.__new__(cls)
        sets = object.__setattr__
        sets(self, "_table", table.to(torch.long).contiguous())
        sets(self, "_identity", int(identity))
        sets(self, "_inverse", inverse.to(torch.long).contiguous())
        sets(self, "_names", tuple(names))
        sets(self, "_name", name)
        sets(self, "_cyclic_shape", cyclic_shape)
        sets(self, "_generators", None)
        sets(self, "_hash", hash((table.shape[0], table.numpy().tobytes())))
        sets(self, "_frozen", True)
        return self

    @classmethod
    def from_cayley_table(
        cls, table: Any, names: Sequence[str] | None = None, name: str | None = None
    ) -> Group:
        """Validate a Cayley table and build the group.

        Args:
            table: ``[n, n]`` integer tensor, array or nested list; ``table[a, b]`` = ``a * b``.
            names: optional ``n`` element names (default ``"g0", "g1", ...``).
            name: optional group label (default ``"C{n}"`` if cyclic, else ``"G{n}"``).

        Raises:
            TypeError: ``table`` is not integer-valued, ``names`` is not a sequence of strs,
                ``name`` is not a str.
            ValueError: ``names`` has not ``n`` entries; ``table`` is not square, not closed,
                not a Latin square, has no two-sided identity or inverses, or is not
                associative (the message then names a failing triple ``(a, b, c)`` with both
                products).
        """
        t = as_table(table)
        label = check_name(name)
        identity, inverse = validate_table(t)
        n = t.shape[0]
        given = check_names(names, n)
        ar = torch.arange(n)
        is_cyclic = bool((t == (ar[:, None] + ar[None, :]) % n).all())
        if given is None:
            given = _power_names("r", n) if is_cyclic else [f"g{i}" for i in range(n)]
        if label is None:
            label = f"C{n}" if is_cyclic else f"G{n}"
        shape = (n,) if is_cyclic else None
        return cls._trusted(t.clone(), identity, inverse, given, label, shape)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"Group is immutable; cannot set {key!r}")

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"Group is immutable; cannot delete {key!r}")

    @property
    def order(self) -> int:
        return int(self._table.shape[0])

    @property
    def table(self) -> torch.Tensor:
        """``[n, n]`` long tensor (a copy, so the group stays immutable)."""
        return self._table.clone()

    @property
    def identity(self) -> int:
        return self._identity

    @property
    def inverse(self) -> torch.Tensor:
        """``[n]`` long tensor with ``inverse[a]`` the index of ``a^-1`` (a copy)."""
        return self._inverse.clone()

    @property
    def element_names(self) -> list[str]:
        return list(self._names)

    @property
    def name(self) -> str:
        return self._name

    @property
    def cyclic_shape(self) -> tuple[int, ...] | None:
        return self._cyclic_shape

    def is_abelian(self) -> bool:
        return bool((self._table == self._table.T).all())

    def element_orders(self) -> torch.Tensor:
        """``[n]`` long tensor: the order of each element (smallest k >= 1 with g^k = e)."""
        n = self.order
        ar = torch.arange(n)
        orders = torch.zeros(n, dtype=torch.long)
        power = ar.clone()
        for k in range(1, n + 1):
            hit = (power == self._identity) & (orders == 0)
            orders[hit] = k
            if bool((orders > 0).all()):
                break
            power = self._table[power, ar]
        return orders

    def generated_subgroup(self, gens: Sequence[int]) -> list[int]:
        """Sorted indices of the subgroup generated by ``gens``.

        Raises:
            TypeError: ``gens`` is not a sequence of ints.
            ValueError: an index outside ``0 .. order-1``.
        """
        if isinstance(gens, str | bytes) or not isinstance(gens, Sequence):
            raise TypeError(f"gens: expected a sequence of element indices, received "
                            f"{type(gens).__name__}")
        chosen = [check_int(g, f"gens[{i}]", minimum=0, maximum=self.order - 1)
                  for i, g in enumerate(gens)]
        seen = {self._identity}
        frontier = [self._identity]
        while frontier:
            products = self._table[torch.tensor(frontier)][:, chosen].flatten().tolist()
            frontier = [x for x in dict.fromkeys(products) if x not in seen]
            seen.update(frontier)
        return sorted(seen)

    def generators(self) -> list[int]:
        """A small generating set, chosen greedily and cached.

        Elements are tried by decreasing element order (ties by index); each one not already in
        the subgroup generated so far is added. This is not guaranteed minimal but gives e.g.
        ``[r]`` for cyclic groups and ``[r, s]`` for dihedral groups. The trivial group has no
        generators.
        """
        if self._generators is None:
            orders = self.element_orders().tolist()
            candidates = sorted(range(self.order), key=lambda g: (-orders[g], g))
            gens: list[int] = []
            span = {self._identity}
            for g in candidates:
                if len(span) == self.order:
                    break
                if g not in span:
                    gens.append(g)
                    span = set(self.generated_subgroup(gens))
            object.__setattr__(self, "_generators", tuple(gens))
        assert self._generators is not None
        return list(self._generators)

    def __repr__(self) -> str:
        return f"Group(name={self._name!r}, order={self.order})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Group):
            return NotImplemented
        return self.order == other.order and bool(torch.equal(self._table, other._table))

    def __hash__(self) -> int:
        return self._hash


def _power_names(symbol: str, n: int) -> list[str]:
    return ["e", symbol, *(f"{symbol}{k}" for k in range(2, n))][:n]


def cyclic(n: int) -> Group:
    """The cyclic group ``C_n = Z_n``: element ``k`` is ``r^k``, ``table[a, b] = (a + b) % n``.

    Raises:
        TypeError: ``n`` is not an int.
        ValueError: ``n < 1``, or a Cayley table above the memory budget
            (:func:`prodint.checks.memory_limit`; the message gives the estimate).
    """
    n = check_int(n, "n", minimum=1)
    _check_order(n, "n", f"C{n}")
    ar = torch.arange(n)
    table = (ar[:, None] + ar[None, :]) % n
    return Group._trusted(table, 0, (-ar) % n, _power_names("r", n), f"C{n}", (n,))


def dihedral(n: int) -> Group:
    """The dihedral group ``D_n`` of order ``2n`` (symmetries of a regular n-gon).

    Element ``r^k s^f`` has index ``f * n + k`` and
    ``(r^k1 s^f1)(r^k2 s^f2) = r^(k1 + (-1)^f1 k2) s^(f1 + f2)``, so ``r^n = s^2 = e`` and
    ``s r s = r^-1``.

    Raises:
        TypeError: ``n`` is not an int.
        ValueError: ``n < 1``, or a Cayley table above the memory budget.
    """
    n = check_int(n, "n", minimum=1)
    _check_order(2 * n, "n", f"D{n}", copies=8)
    idx = torch.arange(2 * n)
    k, f = idx % n, idx // n
    sign = 1 - 2 * f[:, None]
    kk = (k[:, None] + sign * k[None, :]) % n
    ff = (f[:, None] + f[None, :]) % 2
    table = ff * n + kk
    rot = _power_names("r", n)
    names = rot + ["s" if j == 0 else f"{rot[j]}s" for j in range(n)]
    # r^k is its own family's inverse; reflections are involutions.
    inverse = torch.where(f == 0, (-k) % n, idx)
    return Group._trusted(table, 0, inverse, names, f"D{n}", None)


def symmetric_permutations(n: int) -> torch.Tensor:
    """``[n!, n]`` long tensor: the permutations of ``range(n)`` in ``itertools`` order.

    Row ``g`` is the one-line notation of element ``g`` of :func:`symmetric` ``(n)``; it is the
    ``perm`` argument for the natural permutation representation.

    Raises:
        TypeError: ``n`` is not an int.
        ValueError: ``n < 1``, or ``n!`` permutations above the memory budget.
    """
    n = check_int(n, "n", minimum=1)
    order = _factorial(n)
    # The tensor, and the tuples and list that itertools builds first.
    check_budget(order * (16 * n + 64), "n", f"list of the {n}! permutations of {n} points")
    return torch.tensor(list(itertools.permutations(range(n))), dtype=torch.long).reshape(-1, n)


def symmetric(n: int) -> Group:
    """The symmetric group ``S_n`` of order ``n!``.

    Elements are the permutations of ``range(n)`` in the lexicographic order of
    ``itertools.permutations``; the product applies the right factor first:
    ``(p * q)(i) = p[q[i]]``.

    Raises:
        TypeError: ``n`` is not an int.
        ValueError: ``n < 1``, or a Cayley table of ``n!`` elements above the memory budget.
    """
    n = check_int(n, "n", minimum=1)
    _check_order(_factorial(n), "n", f"S{n}")
    perms = symmetric_permutations(n)
    # Mixed-radix codes of lexicographically ordered permutations are increasing, so a product
    # is located by binary search on its code.
    weights = n ** torch.arange(n - 1, -1, -1)
    code = (perms * weights).sum(dim=1)
    order = perms.shape[0]
    table = torch.empty(order, order, dtype=torch.long)
    rows = max(1, CHUNK_ENTRIES // (order * n))
    for start in range(0, order, rows):
        composed = perms[start:start + rows][:, perms]  # composed[p, q, i] = p[q[i]]
        table[start:start + rows] = torch.searchsorted(code, (composed * weights).sum(dim=-1))
    inverse = (table == 0).to(torch.long).argmax(dim=1)
    sep = "" if n <= 10 else ","
    names = [sep.join(str(i) for i in p) for p in perms.tolist()]
    return Group._trusted(table, 0, inverse, names, f"S{n}", None)


def _factorial(n: int) -> int:
    """``n!``, or a number above :data:`_LARGEST_ORDER` once it passes it (never the whole
    product of a huge ``n``)."""
    order = 1
    for k in range(2, n + 1):
        order *= k
        if order > _LARGEST_ORDER:
            break
    return order


def direct_product(g: Group, h: Group) -> Group:
    """The direct product ``G x H``: pair ``(i, j)`` has index ``i * h.order + j``.

    The product is componentwise, ``(i1, j1)(i2, j2) = (i1 i2, j1 j2)``. When both factors carry a
    ``cyclic_shape`` the result carries their concatenation (row-major indexing agrees).

    Raises:
        TypeError: ``g`` or ``h`` is not a Group.
        ValueError: a Cayley table of ``|G| |H|`` elements above the memory budget.
    """
    check_kind(g, "g", Group, "a Group")
    check_kind(h, "h", Group, "a Group")
    _check_order(g.order * h.order, "g, h", f"{g.name}x{h.name}")
    m = h.order
    tg, th = g._table, h._table
    table = (tg[:, None, :, None] * m + th[None, :, None, :]).reshape(g.order * m, g.order * m)
    inverse = (g._inverse[:, None] * m + h._inverse[None, :]).flatten()
    names = [f"({a},{b})" for a in g._names for b in h._names]
    shape = None
    if g.cyclic_shape is not None and h.cyclic_shape is not None:
        shape = g.cyclic_shape + h.cyclic_shape
    identity = g.identity * m + h.identity
    return Group._trusted(table, identity, inverse, names, f"{g.name}x{h.name}", shape)
