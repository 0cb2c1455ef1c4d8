"""Invariant tensors by SVD: the general form of the linear solver.

A tensor with several legs, each carrying a representation (:mod:`prodint.groups.legs`), is
invariant when

    (⊗_legs ρ_leg(g)) vec(T) = vec(T)      for every generator g          (finite groups)
    Σ_legs X_leg,i vec(T) = 0               for every Lie generator i      (SO(2), SO(3))

:func:`invariant_basis` stacks these constraints over all symmetries, restricted to an optional
support mask, and returns an orthonormal basis of their common null space. It is what
Lie-group (and other linear) constraints use; :func:`~prodint.groups.orbit_partition` is its
permutation counterpart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.groups.checks import check_budget, check_max_bytes, check_rtol, check_sizes
from prodint.groups.finite import Group
from prodint.groups.legs import BoundSymmetry, Symmetry, bind_symmetries
from prodint.groups.orbits import DEFAULT_MAX_BYTES, support_mask
from prodint.groups.permutations import dense_representation
from prodint.groups.representations import Representation
from prodint.groups.svd import DEFAULT_RTOL, cached, null_space, store

__all__ = ["invariant_basis"]


def _apply_leg(t: Tensor, leg: tuple[int, ...], matrix: Tensor) -> Tensor:
    """``t`` (``[B, *sizes]``) with ``matrix`` applied to the flattened axes of ``leg``."""
    n = t.dim() - 1
    dims = [1 + a for a in leg]
    rest = [d for d in range(1, n + 1) if d not in dims]
    moved = t.permute(0, *rest, *dims)
    shape = moved.shape
    flat = moved.reshape(*shape[:1 + len(rest)], -1) @ matrix.T
    back = flat.reshape(shape)
    inverse = [0] * (n + 1)
    for position, d in enumerate([0, *rest, *dims]):
        inverse[d] = position
    return back.permute(inverse)


def _operators(sizes: tuple[int, ...], sym: BoundSymmetry) -> list[Tensor]:
    """The constraint blocks ``[N, N]`` of one symmetry on row-major ``vec(T)``."""
    count = math.prod(sizes)
    eye = torch.eye(count, dtype=torch.float64)
    units = eye.view(count, *sizes)
    blocks = []
    if isinstance(sym.group, Group):
        dense = [(leg, dense_representation(rep)) for leg, rep in sym.legs]
        for g in sym.group.generators():
            moved = units
            for leg, rep in dense:
                assert rep._matrices is not None
                moved = _apply_leg(moved, leg, rep._matrices[g])
            blocks.append(moved.reshape(count, count).T - eye)
    else:
        for i in range(sym.group.dim):
            total = torch.zeros(count, count, dtype=torch.float64)
            for leg, rep in sym.legs:
                assert isinstance(rep, Representation)
                total += _apply_leg(units, leg, rep._generators[i]).reshape(count, count).T
            blocks.append(total)
    return blocks


def invariant_basis(
    sizes: Sequence[int],
    symmetries: Symmetry | Sequence[Symmetry],
    *,
    support: Tensor | None = None,
    names: Sequence[str] | None = None,
    rtol: float = DEFAULT_RTOL,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Tensor:
    """An orthonormal basis of the tensors invariant under the symmetries, by SVD.

    The constraints ``(⊗_legs ρ_leg(g) - I) vec(T) = 0`` for every generator ``g`` of a finite
    group, ``Σ_legs X_leg,i vec(T) = 0`` for every Lie-algebra generator (see
    :mod:`prodint.groups.legs`), stacked over all symmetries, restricted to the entries in
    ``support``; the basis spans their common null space.

    Args:
        sizes: the tensor's axis sizes.
        symmetries: one symmetry ``{leg: representation}`` or a sequence of them.
        support: optional bool mask broadcastable to ``sizes``: entries allowed to be non-zero.
        names: axis names for error messages.
        rtol: relative singular-value cutoff (:data:`DEFAULT_RTOL`), in
            :data:`~prodint.groups.checks.RTOL_RANGE`.
        max_bytes: refuse (``ValueError`` with the estimate) above this working memory; the
            dense constraints take ``8 · N² · (k + 3)`` bytes for ``N`` entries and ``k``
            generators.

    Returns:
        ``[m, *sizes]`` float64, Frobenius-orthonormal, zero outside ``support``; cached like
        :func:`~prodint.groups.equivariant_basis` (a fresh copy each time).

    Raises:
        TypeError: malformed sizes, symmetries, support or names (see
            :func:`~prodint.groups.bind_symmetries`), ``rtol`` or ``max_bytes`` of the wrong
            kind.
        ValueError: sizes that do not match the symmetries, a support of the wrong shape,
            ``rtol`` outside its range, working memory above ``max_bytes`` or the machine's
            budget (the message names ``sizes`` and gives the estimate).
    """
    sizes = check_sizes(sizes)
    rtol = check_rtol(rtol)
    max_bytes = check_max_bytes(max_bytes)
    bound = bind_symmetries(sizes, symmetries, names=names)
    mask = support_mask(support, sizes, names)
    key = ("invariant", sizes, tuple(tuple((leg, rep.key) for leg, rep in sym.legs)
                                     for sym in bound),
           None if mask is None else mask.contiguous().numpy().tobytes(), rtol)
    hit = cached(key)
    if hit is not None:
        return hit
    count = math.prod(sizes)
    generators = sum(len(s.group.generators()) if isinstance(s.group, Group) else s.group.dim
                     for s in bound)
    check_budget(8 * count * count * (generators + 3), "sizes",
                 f"working memory of the SVD solver for {count:,} unknowns and {generators} "
                 "generators", max_bytes)
    blocks = [block for sym in bound for block in _operators(sizes, sym)]
    constraints = torch.cat(blocks) if blocks else torch.zeros(0, count, dtype=torch.float64)
    keep = torch.ones(count, dtype=torch.bool) if mask is None else mask.reshape(-1)
    null = null_space(constraints[:, keep], rtol)
    basis = torch.zeros(null.shape[0], count, dtype=torch.float64)
    basis[:, keep] = null
    return store(key, basis.view(-1, *sizes))
