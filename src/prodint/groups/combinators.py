"""Building representations from others: direct sums, tensor products, powers and duals.

Index conventions are row-major throughout: in ``V (x) W`` the basis vector ``e_i (x) f_j`` has
index ``i * dim(W) + j``, which is the convention of ``torch.kron``.
"""

from __future__ import annotations

import torch

from prodint.groups.finite import Group
from prodint.groups.lie import LieGroup
from prodint.groups.representations import Representation, lie_trivial, trivial

__all__ = ["direct_sum", "dual", "tensor_power", "tensor_product"]


def _common_group(reps: tuple[Representation, ...], arg: str) -> Group | LieGroup:
    if not reps:
        raise ValueError(f"{arg}: expected at least one representation, got none")
    for r in reps:
        if not isinstance(r, Representation):
            raise TypeError(f"{arg}: expected Representation objects, got {type(r).__name__}")
    group = reps[0].group
    for r in reps[1:]:
        if r.group != group:
            raise ValueError(
                f"{arg}: expected representations of the same group, "
                f"got {group.name} and {r.group.name}"
            )
    return group


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
    """
    group = _common_group(reps, "reps")
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
    """
    group = _common_group((rep1, rep2), "rep1, rep2")
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
    """
    if not isinstance(rep, Representation):
        raise TypeError(f"rep: expected a Representation, got {type(rep).__name__}")
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k: expected a non-negative int, got {type(k).__name__}")
    if k < 0:
        raise ValueError(f"k: expected a non-negative int, got {k}")
    group = rep.group
    if k == 0:
        return lie_trivial(group, 1) if isinstance(group, LieGroup) else trivial(group, 1)
    out = rep
    for _ in range(k - 1):
        out = tensor_product(out, rep)
    return out


def dual(rep: Representation) -> Representation:
    """The contragredient representation on ``V*``.

    Finite: ``rho*(g) = rho(g^-1)^T``. Lie: ``X*_i = -X_i^T``. For orthogonal representations
    this equals ``rho`` itself.
    """
    if not isinstance(rep, Representation):
        raise TypeError(f"rep: expected a Representation, got {type(rep).__name__}")
    group = rep.group
    name = f"dual({rep.name})"
    if isinstance(group, Group):
        assert rep._matrices is not None
        mats = rep._matrices[group._inverse].transpose(1, 2)
        return Representation._trusted(group, mats, None, name)
    return Representation._trusted(group, None, -rep._generators.transpose(1, 2), name)
