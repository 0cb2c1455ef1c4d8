"""The equivariant structure constants on chosen legs: tie tables, leg bases, projection.

``Γ[a, b, c]`` constrained on a subset of its legs (see :mod:`prodint.algebra.learned`) is
either ``θ[ties]`` (a permutation representation: one coefficient per orbit of the chosen
legs' index tuples and value of the legs left alone) or ``Σ_k θ[k, f] B_k`` over an
orthonormal basis ``B`` of the invariant tensors on the chosen legs (otherwise). These are the
pure functions behind :class:`~prodint.algebra.learned.LearnedAlgebra`: the tables, ``Γ``
from basis coefficients, and the orthogonal projection ``P_G``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from prodint.groups import (
    Representation,
    as_permutation,
    invariant_basis,
    orbit_partition,
    tie_index,
)

#: The legs of ``Γ[a, b, c]``: left factor, right factor, output.
LEGS = ("a", "b", "c")


def leg_positions(legs: Sequence[str]) -> tuple[list[int], list[int]]:
    """Positions of the chosen legs and of the legs left alone in ``Γ[a, b, c]``."""
    chosen = [LEGS.index(leg) for leg in legs]
    return chosen, [p for p in range(3) if p not in chosen]


def permutes(representation: Representation | None) -> bool:
    """Whether ``representation`` is a permutation representation (orbits apply)."""
    if representation is None:
        return False
    try:
        as_permutation(representation)
    except ValueError:
        return False
    return True


def symmetry_tables(dim: int, legs: Sequence[str], leg_symmetry: Mapping[str, Representation],
                    by_orbits: bool) -> tuple[Tensor | None, Tensor | None]:
    """``(ties [n, n, n], None)`` by orbits or ``(None, basis [m, n, …])`` on the chosen legs
    (float64 basis), for ``leg_symmetry`` ``{leg: representation}``."""
    chosen, _ = leg_positions(legs)
    symmetry = {j: leg_symmetry[LEGS[p]] for j, p in enumerate(chosen)}
    sizes = [dim] * len(chosen)
    if by_orbits:
        labels = orbit_partition(sizes, symmetry, names=tuple(legs))  # type: ignore[arg-type]
        index, _ = tie_index(labels, (dim, dim, dim), chosen)
        return index, None
    return None, invariant_basis(sizes, symmetry, names=tuple(legs))  # type: ignore[arg-type]


def _leg_order(legs: Sequence[str]) -> list[int]:
    chosen, free = leg_positions(legs)
    return chosen + free


def spanned(basis: Tensor, coefficients: Tensor, legs: Sequence[str]) -> Tensor:
    """``Σ_k c[k, f] B_k`` in ``Γ``'s ``[n, n, n]`` layout, from ``[m, F]`` coefficients."""
    m, n = basis.shape[0], basis.shape[1]
    flat = basis.reshape(m, n ** len(legs))
    moved = (flat.T @ coefficients).reshape(n, n, n)  # axes in _leg_order
    order = _leg_order(legs)
    return moved.permute([order.index(p) for p in range(3)])


def project(gamma: Tensor, ties: Tensor | None, basis: Tensor | None,
            legs: Sequence[str]) -> Tensor:
    """``P_G Γ``: the orbit averages (``ties``), or ``Σ_k <Γ, B_k> B_k`` at every free
    position (``basis``)."""
    if ties is not None:
        flat, labels = gamma.reshape(-1), ties.reshape(-1)
        count = int(labels.max()) + 1
        sums = torch.zeros(count, dtype=gamma.dtype, device=gamma.device).index_add(
            0, labels, flat)
        sizes = torch.bincount(labels, minlength=count).to(gamma.dtype)
        return (sums / sizes)[ties]
    assert basis is not None
    m, n = basis.shape[0], gamma.shape[0]
    chosen = n ** len(legs)
    moved = gamma.permute(_leg_order(legs)).reshape(chosen, n ** 3 // chosen)
    return spanned(basis, basis.reshape(m, chosen) @ moved, legs)
