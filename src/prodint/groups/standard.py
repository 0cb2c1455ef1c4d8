"""The standard representations: trivial, permutation, regular and sign representations of
finite groups, the vector representations of SO(2) and SO(3), and the trivial representations
of Lie groups; with :func:`action_table`, the check of a group action that the permutation
representations share.
"""

from __future__ import annotations

from typing import Any

import torch

from prodint.checks import check_int
from prodint.groups.checks import check_budget, check_kind, check_name
from prodint.groups.finite import Group, symmetric, symmetric_permutations
from prodint.groups.lie import SO2, SO3, LieGroup
from prodint.groups.representations import Representation

__all__ = [
    "action_table",
    "lie_trivial",
    "permutation",
    "regular",
    "sign",
    "so2_vector",
    "so3_vector",
    "trivial",
]


def _dense_bytes(count: int, dim: int) -> int:
    """The bytes of ``count`` float64 ``[dim, dim]`` matrices (and one temporary copy)."""
    return 16 * count * dim * dim


def trivial(group: Group, dim: int = 1) -> Representation:
    """``rho(g) = I_dim`` for every element.

    Raises:
        TypeError: ``group`` is not a Group, ``dim`` is not an int.
        ValueError: ``dim < 0``, or matrices above the memory budget.
    """
    check_kind(group, "group", Group, "a finite Group")
    dim = check_int(dim, "dim", minimum=0)
    check_budget(_dense_bytes(group.order, dim), "dim", f"{group.order} matrices of size {dim}")
    eye = torch.eye(dim, dtype=torch.float64).expand(group.order, dim, dim)
    return Representation._trusted(group, eye.clone(), None, f"trivial({group.name}, {dim})")


def action_table(group: Group, perm: Any, argument: str = "perm") -> torch.Tensor:
    """``perm`` checked as an action of ``group`` on ``d`` points: ``[|G|, d]`` long (a copy).

    Row ``g`` is the permutation ``i ↦ g · i``. An action has ``perm[identity] = id`` and
    ``perm[a, perm[b, i]] = perm[a*b, i]``, checked exactly for the generators ``a`` and all
    ``b``; with the identity this extends to all pairs by induction on words in the generators.

    Args:
        group: a finite group of order ``n``.
        perm: ``[n, d]`` integer tensor or nested list.
        argument: the name used in error messages.

    Raises:
        TypeError: ``group`` is not a Group, ``perm`` is not integer-valued.
        ValueError: wrong shape, a row that is not a permutation, not an action.
    """
    check_kind(group, "group", Group, "a finite Group")
    p = perm.detach() if isinstance(perm, torch.Tensor) else torch.as_tensor(perm)
    if p.is_floating_point() or p.is_complex() or p.dtype == torch.bool:
        raise TypeError(f"{argument}: expected an integer tensor, received dtype {p.dtype}")
    p = p.to(device="cpu", dtype=torch.long).clone()
    n = group.order
    if p.dim() != 2 or p.shape[0] != n:
        raise ValueError(f"{argument}: expected shape [{n}, d] for {group.name}, received "
                         f"{tuple(p.shape)}")
    d = p.shape[1]
    rows = (torch.sort(p, dim=1).values == torch.arange(d)).all(dim=1)
    if not bool(rows.all()):
        g = int((~rows).nonzero()[0])
        raise ValueError(f"{argument}: expected each row to be a permutation of 0..{d - 1}, "
                         f"received row {g} = {p[g].tolist()[:16]}")
    if not bool((p[group.identity] == torch.arange(d)).all()):
        raise ValueError(f"{argument}: expected the identity (element {group.identity}) to fix "
                         f"every point, received {p[group.identity].tolist()[:16]}")
    for g in group.generators():
        bad = (p[g][p] != p[group._table[g]]).any(dim=-1).nonzero()
        if bad.numel():
            raise ValueError(f"{argument}: expected an action perm[a][perm[b]] = perm[a*b], "
                             f"received a failure at (a, b) = ({g}, {int(bad[0])})")
    return p


def permutation(group: Group, perm: Any, name: str | None = None) -> Representation:
    """Permutation representation ``rho(g) e_i = e_{perm[g, i]}``.

    Args:
        group: a finite group of order ``n``.
        perm: ``[n, m]`` integer tensor; row ``g`` is the permutation of ``m`` points by ``g``.
            It must be an action (:func:`action_table` checks it).

    Returns:
        A representation of dimension ``m`` with ``rho(g)[perm[g, i], i] = 1``.

    Raises:
        TypeError: as :func:`action_table`, or ``name`` is not a str.
        ValueError: as :func:`action_table`, or matrices above the memory budget.
    """
    name = check_name(name)
    p = action_table(group, perm)
    n, m = p.shape
    check_budget(_dense_bytes(n, m), "perm", f"{n} permutation matrices of size {m}")
    mats = torch.zeros(n, m, m, dtype=torch.float64)
    mats.scatter_(1, p[:, None, :], 1.0)
    return Representation._trusted(group, mats, None, name or f"perm({group.name}, {m})")


def regular(group: Group) -> Representation:
    """Left regular representation ``rho(g) e_h = e_{g*h}`` (``P[g*h, h] = 1``), dim ``|G|``.

    Raises:
        TypeError: ``group`` is not a Group.
        ValueError: the ``[|G|, |G|, |G|]`` matrices above the memory budget (use
            :func:`~prodint.groups.regular_permutation`).
    """
    check_kind(group, "group", Group, "a finite Group")
    check_budget(_dense_bytes(group.order, group.order), "group",
                 f"regular representation of {group.name}")
    return permutation(group, group._table, name=f"regular({group.name})")


def sign(group: Group) -> Representation:
    """The sign representation of a symmetric group (as built by ``symmetric(m)``).

    Raises:
        TypeError: ``group`` is not a Group.
        ValueError: ``group`` is not ``symmetric(m)``.
    """
    check_kind(group, "group", Group, "a symmetric Group")
    m, fact = 1, 1
    while fact < group.order:
        m += 1
        fact *= m
    if fact != group.order or group != symmetric(m):
        raise ValueError(f"group: expected a symmetric group symmetric(m), got {group!r}")
    perms = symmetric_permutations(m)
    # Parity = number of inversions mod 2, counted for all permutations at once.
    inversions = (perms[:, :, None] > perms[:, None, :]).triu(diagonal=1).sum(dim=(1, 2))
    parity = 1.0 - 2.0 * (inversions % 2).to(torch.float64)
    return Representation._trusted(group, parity.reshape(-1, 1, 1), None, f"sign({group.name})")


def so2_vector() -> Representation:
    """SO(2) acting on R^2 by rotation: generator ``[[0, -1], [1, 0]]``."""
    x = torch.tensor([[[0.0, -1.0], [1.0, 0.0]]], dtype=torch.float64)
    return Representation._trusted(SO2, None, x, "vector(SO(2))")


def so3_vector() -> Representation:
    """SO(3) acting on R^3 by rotation: generators ``(L_i)_jk = -epsilon_ijk``.

    Then ``[L_x, L_y] = L_z`` (cyclically) and ``expm(t . L) v = v`` rotated about ``t`` by
    ``|t|``, with ``L_i v = e_i x v``.
    """
    return Representation._trusted(SO3, None, -SO3.structure_constants, "vector(SO(3))")


def lie_trivial(group: LieGroup, dim: int = 1) -> Representation:
    """The trivial representation of a Lie group: all generators are zero ``[k, dim, dim]``.

    Raises:
        TypeError: ``group`` is not a LieGroup, ``dim`` is not an int.
        ValueError: ``dim < 0``, or generators above the memory budget.
    """
    check_kind(group, "group", LieGroup, "a LieGroup")
    dim = check_int(dim, "dim", minimum=0)
    check_budget(_dense_bytes(group.dim, dim), "dim", f"{group.dim} generators of size {dim}")
    x = torch.zeros(group.dim, dim, dim, dtype=torch.float64)
    return Representation._trusted(group, None, x, f"trivial({group.name}, {dim})")
