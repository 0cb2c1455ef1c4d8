"""The equivariant structure constants on chosen legs: tie tables, leg bases, projection.

``Γ[a, b, c]`` constrained on a subset of its legs (see :mod:`prodint.algebra.learned`) is
either ``θ[ties]`` (a permutation representation: one coefficient per orbit of the chosen
legs' index tuples and value of the legs left alone) or ``Σ_k θ[k, f] B_k`` over an
orthonormal basis ``B`` of the invariant tensors on the chosen legs (otherwise). These are the
pure functions behind :class:`~prodint.algebra.learned.LearnedAlgebra`: the tables, ``Γ``
from basis coefficients, and the orthogonal projection ``P_G``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from prodint.checks import check_instance, check_memory
from prodint.groups import (
    DEFAULT_MAX_BYTES,
    Representation,
    as_permutation,
    invariant_basis,
    orbit_basis,
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


def check_symmetry(symmetry: object, dim: int, mode: str) -> None:
    """Refuse a ``symmetry`` that is not a representation of dimension ``dim``, or a missing
    one where ``mode`` needs it (``TypeError``/``ValueError`` naming ``symmetry``)."""
    check_instance(symmetry, "symmetry", Representation, optional=True,
                   name="prodint.groups.Representation")
    if symmetry is not None and symmetry.dim != dim:
        raise ValueError(f"symmetry: expected a representation of dimension {dim} (the "
                         f"algebra's), received {symmetry.name} of dimension {symmetry.dim}")
    if symmetry is None and mode != "free":
        raise ValueError(f"symmetry: mode {mode!r} needs a representation of dimension {dim}, "
                         "received None")


def check_legs(legs: object) -> tuple[str, ...]:
    """``legs`` (a non-empty sequence of distinct legs) in the order of :data:`LEGS`."""
    if isinstance(legs, str) or not isinstance(legs, Sequence) or not legs or \
            any(leg not in LEGS for leg in legs) or len(set(legs)) != len(legs):
        raise ValueError(f"legs: expected a non-empty subset of {LEGS}, received {legs!r}")
    return tuple(leg for leg in LEGS if leg in legs)


def check_table_size(dim: int, legs: Sequence[str], symmetry: Representation,
                     by_orbits: bool) -> None:
    """Refuse (``ValueError`` naming ``symmetry``, with the estimate) tables whose solver
    would need more than :data:`prodint.groups.DEFAULT_MAX_BYTES`: ``8·N·(k + 6)`` bytes for
    the orbits, ``8·N²·(k + 3)`` for the SVD of the constraints (``N = dim^legs`` entries,
    ``k`` generators), the estimates the solvers refuse by."""
    entries = dim ** len(legs)
    k = int(symmetry.generators.shape[0])
    if by_orbits:
        nbytes, what = 8 * entries * (k + 6), "orbit solve"
    else:
        nbytes, what = 8 * entries * entries * (k + 3), "SVD solve (a non-permutation symmetry)"
    check_memory(nbytes, "symmetry", f"{what} for {entries:,} entries on legs "
                 f"{''.join(legs)} with {k} generators", limit=DEFAULT_MAX_BYTES)


def initial_std(dim: int, legs: Sequence[str], tied: bool, count: int) -> float:
    """The variance-preserving initial std of ``θ`` (see :mod:`prodint.algebra.learned`):
    ``1/n`` for tied entries, ``sqrt(N / (m n²))`` for ``m = count`` basis coefficients over
    ``N = n^legs`` entries."""
    if tied:
        return 1.0 / dim
    return math.sqrt(dim ** len(legs) / (max(count, 1) * dim * dim))


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


def full_basis(ties: Tensor | None, basis: Tensor | None, legs: Sequence[str]) -> Tensor:
    """``[M, n, n, n]`` orthonormal basis of every equivariant ``Γ``: the orbit indicators of
    ``ties``, or ``basis`` (on the chosen legs) times unit vectors of the legs left alone."""
    if ties is not None:
        return orbit_basis(ties.cpu())
    assert basis is not None
    m, n = basis.shape[0], basis.shape[1]
    free = n ** (3 - len(legs))
    units = torch.eye(m * free, dtype=basis.dtype, device=basis.device)
    return torch.stack([spanned(basis, u.view(m, free), legs) for u in units])


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


def equivariance_residual(gamma: Tensor, symmetry: Representation, legs: Sequence[str]) -> float:
    """The largest entry of the equivariance defect of ``Γ`` on ``legs``, over the generators:
    ``Γ(ρ(g)·, ρ(g)·) - ρ(g) Γ`` for a finite group, its derivative for a Lie group."""
    worst = 0.0
    for r in symmetry.generators.to(device=gamma.device, dtype=gamma.dtype):  # [n, n] each
        left = torch.einsum("abc,ai->ibc", gamma, r)
        right = torch.einsum("abc,bj->ajc", gamma, r)
        out = torch.einsum("cd,abd->abc", r, gamma)
        if symmetry.is_lie:
            lhs = (left if "a" in legs else 0) + (right if "b" in legs else 0)
            rhs = out if "c" in legs else torch.zeros_like(gamma)
        else:
            lhs = torch.einsum("abc,bj->ajc", left, r) if "b" in legs else left
            lhs = lhs if "a" in legs else (right if "b" in legs else gamma)
            rhs = out if "c" in legs else gamma
        worst = max(worst, float((lhs - rhs).abs().max()))
    return worst
