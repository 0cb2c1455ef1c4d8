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

from prodint.groups.frozen import FrozenSlots

__all__ = [
    "Group",
    "cyclic",
    "dihedral",
    "direct_product",
    "symmetric",
    "symmetric_permutations",
]

# Upper bound on the number of entries materialised at once by the associativity check, so
# that validating a table of order a few hundred does not allocate gigabytes.
_ASSOC_CHUNK_ENTRIES = 1 << 22


def _as_table(table: Any) -> torch.Tensor:
    """Convert ``table`` to a long tensor, rejecting non-integer input with TypeError."""
    if isinstance(table, torch.Tensor):
        t = table.detach()
    else:
        try:
            t = torch.as_tensor(table)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(
                "table: expected an integer tensor, array or nested list, "
                f"got {type(table).__name__}"
            ) from exc
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"table: expected an integer dtype, got {t.dtype}")
    return t.to(device="cpu", dtype=torch.long).contiguous()


def _validate_table(t: torch.Tensor) -> tuple[int, torch.Tensor]:
    """Check the group axioms on a long tensor; return ``(identity, inverse)``.

    Raises:
        ValueError: naming ``table``, what was expected and what was received.
    """
    if t.dim() != 2 or t.shape[0] != t.shape[1]:
        raise ValueError(f"table: expected a square [n, n] tensor, got shape {tuple(t.shape)}")
    n = t.shape[0]
    if n == 0:
        raise ValueError("table: expected at least one element, got an empty [0, 0] table")
    lo, hi = int(t.min()), int(t.max())
    if lo < 0 or hi >= n:
        bad = int(t[(t < 0) | (t >= n)][0])
        raise ValueError(
            f"table: expected entries in 0..{n - 1} (closure), got value {bad} (min {lo}, max {hi})"
        )
    ar = torch.arange(n)
    rows_ok = (torch.sort(t, dim=1).values == ar).all(dim=1)
    if not bool(rows_ok.all()):
        r = int((~rows_ok).nonzero()[0])
        raise ValueError(
            f"table: expected a Latin square (each row a permutation of 0..{n - 1}), "
            f"got row {r} = {t[r].tolist()}"
        )
    cols_ok = (torch.sort(t, dim=0).values == ar[:, None]).all(dim=0)
    if not bool(cols_ok.all()):
        c = int((~cols_ok).nonzero()[0])
        raise ValueError(
            f"table: expected a Latin square (each column a permutation of 0..{n - 1}), "
            f"got column {c} = {t[:, c].tolist()}"
        )
    left_id = (t == ar).all(dim=1)  # e * b == b for all b
    right_id = (t == ar[:, None]).all(dim=0)  # a * e == a for all a
    both = (left_id & right_id).nonzero().flatten()
    if both.numel() == 0:
        raise ValueError(
            "table: expected a two-sided identity e with table[e, b] == b and table[a, e] == a, "
            f"got left identities {left_id.nonzero().flatten().tolist()} and right identities "
            f"{right_id.nonzero().flatten().tolist()}"
        )
    e = int(both[0])
    # In a Latin square each row holds e exactly once, so right inverses are unique.
    inv = (t == e).to(torch.long).argmax(dim=1)
    left_ok = t[inv, ar] == e
    if not bool(left_ok.all()):
        a = int((~left_ok).nonzero()[0])
        raise ValueError(
            f"table: expected two-sided inverses, got element {a} with right inverse "
            f"{int(inv[a])} but table[{int(inv[a])}, {a}] = {int(t[inv[a], a])} != identity {e}"
        )
    chunk = max(1, _ASSOC_CHUNK_ENTRIES // (n * n))
    for start in range(0, n, chunk):
        rows = t[start : start + chunk]  # [ca, n]: rows[a, b] = a*b
        lhs = t[rows]  # [ca, n, n]: (a*b)*c
        rhs = rows[:, t]  # [ca, n, n]: a*(b*c)
        bad = (lhs != rhs).nonzero()
        if bad.numel():
            da, b, c = (int(x) for x in bad[0])
            a = start + da
            raise ValueError(
                "table: expected an associative operation, got a non-associative triple "
                f"(a, b, c) = ({a}, {b}, {c}): (a*b)*c = {int(lhs[da, b, c])} but "
                f"a*(b*c) = {int(rhs[da, b, c])}"
            )
    return e, inv


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
            TypeError: ``table`` is not integer-valued.
            ValueError: ``table`` is not square, not closed, not a Latin square, has no
                two-sided identity or inverses, or is not associative (the message then names a
                failing triple ``(a, b, c)`` with both products).
        """
        t = _as_table(table)
        identity, inverse = _validate_table(t)
        n = t.shape[0]
        ar = torch.arange(n)
        is_cyclic = bool((t == (ar[:, None] + ar[None, :]) % n).all())
        if names is None:
            names = _power_names("r", n) if is_cyclic else [f"g{i}" for i in range(n)]
        else:
            names = [str(x) for x in names]
            if len(names) != n:
                raise ValueError(f"names: expected {n} element names, got {len(names)}")
        if name is None:
            name = f"C{n}" if is_cyclic else f"G{n}"
        shape = (n,) if is_cyclic else None
        return cls._trusted(t.clone(), identity, inverse, names, str(name), shape)

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
        """Sorted indices of the subgroup generated by ``gens``."""
        seen = {self._identity}
        frontier = [self._identity]
        while frontier:
            products = self._table[torch.tensor(frontier)][:, list(gens)].flatten().tolist()
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


def _check_positive_int(value: object, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{arg}: expected a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{arg}: expected a positive int, got {value}")
    return value


def _power_names(symbol: str, n: int) -> list[str]:
    return ["e", symbol, *(f"{symbol}{k}" for k in range(2, n))][:n]


def cyclic(n: int) -> Group:
    """The cyclic group ``C_n = Z_n``: element ``k`` is ``r^k``, ``table[a, b] = (a + b) % n``."""
    n = _check_positive_int(n, "n")
    ar = torch.arange(n)
    table = (ar[:, None] + ar[None, :]) % n
    return Group._trusted(table, 0, (-ar) % n, _power_names("r", n), f"C{n}", (n,))


def dihedral(n: int) -> Group:
    """The dihedral group ``D_n`` of order ``2n`` (symmetries of a regular n-gon).

    Element ``r^k s^f`` has index ``f * n + k`` and
    ``(r^k1 s^f1)(r^k2 s^f2) = r^(k1 + (-1)^f1 k2) s^(f1 + f2)``, so ``r^n = s^2 = e`` and
    ``s r s = r^-1``.
    """
    n = _check_positive_int(n, "n")
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
    """
    n = _check_positive_int(n, "n")
    return torch.tensor(list(itertools.permutations(range(n))), dtype=torch.long).reshape(-1, n)


def symmetric(n: int) -> Group:
    """The symmetric group ``S_n`` of order ``n!``.

    Elements are the permutations of ``range(n)`` in the lexicographic order of
    ``itertools.permutations``; the product applies the right factor first:
    ``(p * q)(i) = p[q[i]]``.
    """
    perms = symmetric_permutations(n)
    # Mixed-radix codes of lexicographically ordered permutations are increasing, so a product
    # is located by binary search on its code.
    weights = n ** torch.arange(n - 1, -1, -1)
    code = (perms * weights).sum(dim=1)
    composed = perms[:, perms]  # composed[p, q, i] = p[q[i]]
    table = torch.searchsorted(code, (composed * weights).sum(dim=-1))
    inverse = (table == 0).to(torch.long).argmax(dim=1)
    sep = "" if n <= 10 else ","
    names = [sep.join(str(i) for i in p) for p in perms.tolist()]
    return Group._trusted(table, 0, inverse, names, f"S{n}", None)


def direct_product(g: Group, h: Group) -> Group:
    """The direct product ``G x H``: pair ``(i, j)`` has index ``i * h.order + j``.

    The product is componentwise, ``(i1, j1)(i2, j2) = (i1 i2, j1 j2)``. When both factors carry a
    ``cyclic_shape`` the result carries their concatenation (row-major indexing agrees).
    """
    for arg, val in (("g", g), ("h", h)):
        if not isinstance(val, Group):
            raise TypeError(f"{arg}: expected a Group, got {type(val).__name__}")
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
