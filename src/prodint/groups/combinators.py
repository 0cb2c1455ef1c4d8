"""Building representations from others: direct sums, tensor products, powers and duals.

Index conventions are row-major throughout: in ``V (x) W`` the basis vector ``e_i (x) f_j`` has
index ``i * dim(W) + j``, which is the convention of ``torch.kron``.
"""

from __future__ import annotations

import torch

from prodint.checks import check_int
from prodint.groups.checks import check_budget, check_kind, power_estimate
from prodint.groups.finite import Group
from prodint.groups.lie import LieGroup
from prodint.groups.representations import Representation
from prodint.groups.standard import lie_trivial, trivial

__all__ = ["direct_sum", "dual", "tensor_power", "tensor_product"]


def _common_group(reps: tuple[object, ...], args: tuple[str, ...]) -> Group | LieGroup:
    """The one group of ``reps`` (named ``args`` in messages, one name each)."""
    if not reps:
        raise ValueError("reps: expected at least one representation, got none")
    for r, arg in zip(reps, args, strict=True):
        check_kind(r, arg, Representation, "a Representation")
    group = reps[0].group  # type: ignore[attr-defined]
    for r, arg in zip(reps[1:], args[1:], strict=True):
        if r.group != group:  # type: ignore[attr-defined]
            raise ValueError(
                f"{args[0]}, {arg}: expected representations of the same group, "
                f"got {group.name} and {r.group.name}"  # type: ignore[attr-defined]
            )
    return group


def _check_dense(group: Group | LieGroup, dim: float, argument: str) -> None:
    """Refuse ``[|G| or k, dim, dim]`` float64 matrices (and two temporaries) above the
    memory budget."""
    count = group.order if isinstance(group, Group) else group.dim
    check_budget(24 * count * dim * dim, argument, f"{count} matrices of size {dim:,.0f}")


def _batched_block_diag(blocks: list[torch.Tensor]) -> torch.Tensor:
    """``[B, d_i, d_i]`` blocks -> ``[B, sum d_i, sum d_i]`` block-diagonal matrices."""
    batch = blocks[0].shape[0]
    total = sum(b.shape[-1] for b in blocks)
    out = torch.zeros(batch, total, total, dtype=torch.float64)
    offset = 0
    for b in blocks:
        d = b.shape[-1]
        out[:, offset : offset + d, offset : offset + d] = b
        offset += d
    return out


def _batched_kron(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[B, p, q]``, ``[B, r, s]`` -> ``[B, p*r, q*s]`` with ``out[g] = kron(a[g], b[g])``."""
    batch, p, q = a.shape
    _, r, s = b.shape
    return torch.einsum("gij,gkl->gikjl", a, b).reshape(batch, p * r, q * s)


def direct_sum(*reps: Representation) -> Representation:
    """``rho_1 (+) ... (+) rho_m``: block-diagonal ``rho(g)`` (finite) or ``X_i`` (Lie).

    Dimension ``sum_i d_i``; blocks appear in argument order.

    Raises:
        TypeError: an argument that is not a Representation.
        ValueError: no argument, representations of different groups, or matrices above the
            memory budget.
    """
    group = _common_group(reps, tuple(f"reps[{i}]" for i in range(len(reps))))
    _check_dense(group, sum(r.dim for r in reps), "reps")
    name = "(" + " + ".join(r.name for r in reps) + ")"
    if isinstance(group, Group):
        mats = _batched_block_diag([r.matrices for r in reps])
        return Representation._trusted(group, mats, None, name)
    gens = _batched_block_diag([r._generators for r in reps])
    return Representation._trusted(group, None, gens, name)


def tensor_product(rep1: Representation, rep2: Representation) -> Representation:
    """``rho_1 (x) rho_2`` of dimension ``d1 * d2``.

    Finite groups: ``rho(g) = kron(rho_1(g), rho_2(g))``. Lie groups (the derivative of that at
    the identity): ``X_i = kron(X1_i, I_d2) + kron(I_d1, X2_i)``.

    Raises:
        TypeError: ``rep1`` or ``rep2`` is not a Representation.
        ValueError: representations of different groups, or matrices above the memory
            budget.
    """
    group = _common_group((rep1, rep2), ("rep1", "rep2"))
    _check_dense(group, rep1.dim * rep2.dim, "rep1, rep2")
    name = f"({rep1.name} x {rep2.name})"
    if isinstance(group, Group):
        assert rep1._matrices is not None and rep2._matrices is not None
        mats = _batched_kron(rep1._matrices, rep2._matrices)
        return Representation._trusted(group, mats, None, name)
    x1, x2 = rep1._generators, rep2._generators
    k = x1.shape[0]
    eye1 = torch.eye(rep1.dim, dtype=torch.float64).expand(k, -1, -1)
    eye2 = torch.eye(rep2.dim, dtype=torch.float64).expand(k, -1, -1)
    gens = _batched_kron(x1, eye2) + _batched_kron(eye1, x2)
    return Representation._trusted(group, None, gens, name)


def tensor_power(rep: Representation, k: int) -> Representation:
    """``rho^{(x) k}`` of dimension ``d^k`` (``k = 0`` gives the 1-dim trivial representation).

    The index of ``e_{i1} (x) ... (x) e_{ik}`` is the row-major flattening of ``(i1, ..., ik)``.
    A representation of dimension 0 or 1 stays so for every ``k`` and is raised to the power
    directly: ``rho(g)^k = rho(g)^(k mod |G|)`` (finite), ``k X_i`` (Lie).

    Raises:
        TypeError: ``rep`` is not a Representation, ``k`` is not an int.
        ValueError: ``k < 0``, or ``d^k``-dimensional matrices above the memory budget.
    """
    check_kind(rep, "rep", Representation, "a Representation")
    k = check_int(k, "k", minimum=0)
    group = rep.group
    if k == 0:
        return lie_trivial(group, 1) if isinstance(group, LieGroup) else trivial(group, 1)
    if rep.dim <= 1:
        return _small_power(rep, k)
    count = group.order if isinstance(group, Group) else group.dim
    check_budget(power_estimate(rep.dim, 2 * k, 24 * count), "k",
                 f"{count} matrices of size {rep.dim}^{k}")
    out = rep
    for _ in range(k - 1):
        out = tensor_product(out, rep)
    return out


def _small_power(rep: Representation, k: int) -> Representation:
    """``rho^{(x) k}`` of a representation of dimension 0 or 1 (the same dimension)."""
    group = rep.group
    name = f"{rep.name}^{k}"
    if isinstance(group, Group):
        assert rep._matrices is not None
        # rho(g)^|G| = rho(g^|G|) = I, so only k mod |G| factors matter.
        mats = torch.linalg.matrix_power(rep._matrices, k % group.order)
        return Representation._trusted(group, mats, None, name)
    # The Lie algebra acts on a tensor power by the derivation sum: k copies of X_i.
    return Representation._trusted(group, None, float(k) * rep._generators, name)


def dual(rep: Representation) -> Representation:
    """The contragredient representation on ``V*``.

    Finite: ``rho*(g) = rho(g^-1)^T``. Lie: ``X*_i = -X_i^T``. For orthogonal representations
    this equals ``rho`` itself.

    Raises:
        TypeError: ``rep`` is not a Representation.
    """
    check_kind(rep, "rep", Representation, "a Representation")
    group = rep.group
    name = f"dual({rep.name})"
    if isinstance(group, Group):
        assert rep._matrices is not None
        mats = rep._matrices[group._inverse].transpose(1, 2)
        return Representation._trusted(group, mats, None, name)
    return Representation._trusted(group, None, -rep._generators.transpose(1, 2), name)
