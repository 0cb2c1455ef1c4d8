"""Permutation representations: a finite group acting on a finite set of points.

A permutation representation of ``G`` on ``{0, …, d-1}`` is an action ``g · i``, stored as the
``[|G|, d]`` table ``perm[g, i] = g · i``; its matrices are ``ρ(g) e_i = e_{g·i}``
(``ρ(g)[perm[g, i], i] = 1``), the convention of
:func:`prodint.groups.standard.permutation`. Keeping the table instead of the matrices
costs ``|G| · d`` integers instead of ``|G| · d²`` floats, so the translations ``Z_28 × Z_28``
of a 28×28 grid (784 elements on 784 points: 0.6 M integers against 3.9 G floats) fit, and the
orbit solver (:mod:`prodint.groups.orbits`) reads the table directly.

A dense :class:`~prodint.groups.Representation` whose matrices are permutation matrices (built
by ``regular``, ``permutation``, ``trivial``, or their tensor products and direct sums) is
recognised by :func:`as_permutation`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from prodint.checks import check_int
from prodint.groups.checks import check_argument_name, check_budget, check_kind, check_name
from prodint.groups.finite import Group
from prodint.groups.frozen import FrozenSlots
from prodint.groups.representations import Representation
from prodint.groups.standard import action_table

__all__ = [
    "PermutationRepresentation",
    "as_permutation",
    "regular_permutation",
    "trivial_permutation",
]

# Dense matrices are built from a table only below this size (|G| · d² float64 entries):
# 2^27 entries is 1 GiB, far beyond what the SVD solver could use anyway.
_DENSE_LIMIT = 1 << 27


class PermutationRepresentation(FrozenSlots):
    """An immutable action of a finite group on ``d`` points, ``g · i = perm[g, i]``.

    Attributes:
        group: the :class:`~prodint.groups.Group`.
        dim: the number of points ``d``.
        permutations: ``[|G|, d]`` long, ``perm[g, i] = g · i`` (a copy).
        generator_permutations: ``[k, d]`` long, the rows of ``group.generators()``.
        name: a short label.
        key: a digest of the group and the table (for caches).

    Build with :meth:`from_permutations`, :func:`regular_permutation`,
    :func:`trivial_permutation`, :func:`as_permutation` or the grid actions of
    :mod:`prodint.groups.grids`.
    """

    __slots__ = ("_group", "_key", "_name", "_perm")

    _group: Group
    _perm: torch.Tensor
    _name: str
    _key: bytes

    def __init__(self) -> None:
        raise TypeError("PermutationRepresentation: use from_permutations(group, perm) or a "
                        "constructor such as regular_permutation")

    @classmethod
    def _trusted(cls, group: Group, perm: torch.Tensor, name: str) -> PermutationRepresentation:
        self = object.__new__(cls)
        perm = perm.to(torch.long).contiguous()
        digest = hashlib.sha256()
        digest.update(repr(("perm", group.name, tuple(perm.shape))).encode())
        digest.update(group._table.numpy().tobytes())
        digest.update(perm.numpy().tobytes())
        sets = object.__setattr__
        sets(self, "_group", group)
        sets(self, "_perm", perm)
        sets(self, "_name", name)
        sets(self, "_key", digest.digest())
        return self

    @classmethod
    def from_permutations(cls, group: Group, perm: Any,
                          name: str | None = None) -> PermutationRepresentation:
        """Validate an action table and build the representation.

        Args:
            group: a finite group of order ``n``.
            perm: ``[n, d]`` integer tensor (or nested list); row ``g`` is the permutation
                ``i ↦ g · i``. It must be an action: ``perm[identity] = id`` and
                ``perm[a, perm[b, i]] = perm[a*b, i]``
                (:func:`~prodint.groups.standard.action_table` checks it).

        Raises:
            TypeError: ``group`` is not a Group, ``perm`` is not integer-valued, ``name`` is
                not a str.
            ValueError: wrong shape, a row that is not a permutation, not an action.
        """
        name = check_name(name)
        p = action_table(group, perm)
        return cls._trusted(group, p, name or f"perm({group.name}, {p.shape[1]})")

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"PermutationRepresentation is immutable; cannot set {key!r}")

    @property
    def group(self) -> Group:
        return self._group

    @property
    def dim(self) -> int:
        return int(self._perm.shape[1])

    @property
    def name(self) -> str:
        return self._name

    @property
    def key(self) -> bytes:
        return self._key

    @property
    def permutations(self) -> torch.Tensor:
        """``[|G|, d]`` long, ``perm[g, i] = g · i`` (a copy)."""
        return self._perm.clone()

    @property
    def generator_permutations(self) -> torch.Tensor:
        """``[k, d]`` long: the permutations of ``group.generators()``."""
        return self._perm[self._group.generators()].clone()

    def representation(self) -> Representation:
        """The dense :class:`~prodint.groups.Representation` with ``ρ(g)[g·i, i] = 1``.

        Raises:
            ValueError: when the ``[|G|, d, d]`` float64 matrices would exceed 1 GiB (the
                message gives the size).
        """
        n, d = self._perm.shape
        entries = n * d * d
        if entries > _DENSE_LIMIT:
            raise ValueError(f"{self._name}: the dense matrices would need "
                             f"{8 * entries / 2**30:.1f} GiB ([{n}, {d}, {d}] float64); expected "
                             "at most 1 GiB. Use the permutation table with the orbit solver")
        mats = torch.zeros(n, d, d, dtype=torch.float64)
        mats.scatter_(1, self._perm[:, None, :], 1.0)
        return Representation._trusted(self._group, mats, None, self._name)

    def __repr__(self) -> str:
        return (f"PermutationRepresentation({self._name!r}, group={self._group.name}, "
                f"dim={self.dim})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PermutationRepresentation):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)


def regular_permutation(group: Group) -> PermutationRepresentation:
    """The left regular action ``g · h = g h`` on the ``|G|`` elements (``regular`` as a table).

    Raises:
        TypeError: ``group`` is not a Group.
    """
    check_kind(group, "group", Group, "a finite Group")
    return PermutationRepresentation._trusted(group, group._table.clone(),
                                              f"regular({group.name})")


def trivial_permutation(group: Group, dim: int = 1) -> PermutationRepresentation:
    """Every element fixes every one of ``dim`` points.

    Raises:
        TypeError: ``group`` is not a Group, ``dim`` is not an int.
        ValueError: ``dim < 1``, or a table above the memory budget.
    """
    check_kind(group, "group", Group, "a finite Group")
    dim = check_int(dim, "dim", minimum=1)
    check_budget(16 * group.order * dim, "dim", f"action table of {group.order} elements on "
                 f"{dim} points")
    perm = torch.arange(dim).expand(group.order, dim)
    return PermutationRepresentation._trusted(group, perm.clone(),
                                              f"trivial({group.name}, {dim})")


def as_permutation(rep: Representation | PermutationRepresentation,
                   argument: str = "rep") -> PermutationRepresentation:
    """``rep`` as a permutation table, if every ``ρ(g)`` is a permutation matrix.

    Args:
        rep: a :class:`PermutationRepresentation` (returned as is) or a finite-group
            :class:`~prodint.groups.Representation`.
        argument: the name used in error messages.

    Raises:
        TypeError: ``rep`` is neither, ``argument`` is not a non-empty str.
        ValueError: ``rep`` is a Lie-group representation or some ``ρ(g)`` is not a 0/1
            matrix with exactly one 1 per row and column (the message names the element).
    """
    argument = check_argument_name(argument)
    if isinstance(rep, PermutationRepresentation):
        return rep
    if not isinstance(rep, Representation):
        raise TypeError(f"{argument}: expected a Representation or a "
                        f"PermutationRepresentation, received {type(rep).__name__}")
    reason = _not_permutation(rep)
    if reason:
        raise ValueError(f"{argument}: expected a permutation representation (every ρ(g) a 0/1 "
                         f"matrix with one 1 per row and column), received {rep.name}: {reason}")
    assert rep._matrices is not None
    perm = rep._matrices.argmax(dim=1)  # the row holding column i's 1 is g · i
    return PermutationRepresentation._trusted(rep.group, perm, rep.name)  # type: ignore[arg-type]


def dense_representation(rep: Representation | PermutationRepresentation) -> Representation:
    """``rep`` as a dense :class:`~prodint.groups.Representation` (a permutation table's
    matrices, :meth:`PermutationRepresentation.representation`)."""
    return rep.representation() if isinstance(rep, PermutationRepresentation) else rep


def _not_permutation(rep: Representation) -> str:
    """Why ``rep`` is not a permutation representation, or ``""`` if it is one."""
    if rep._matrices is None:
        return f"a representation of the Lie group {rep.group.name} has no permutation table"
    m = rep._matrices
    binary = (m == 0) | (m == 1)
    ones = m == 1
    single = ((ones.sum(dim=1) == 1) & (ones.sum(dim=2) == 1)).all(dim=1)
    ok = binary.all(dim=(1, 2)) & single
    if bool(ok.all()):
        return ""
    g = int((~ok).nonzero()[0])
    return f"ρ({g}) = {m[g].tolist() if m.shape[1] <= 4 else '…'} is not a permutation matrix"
