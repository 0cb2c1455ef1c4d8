"""Clebsch–Gordan coefficients as the equivariant structure constants found by the solver.

A bilinear map ``B: V_{l1} × V_{l2} → V_{l3}``, ``B(x, y)_k = Σ_ij C[i, j, k] x_i y_j``, is
SO(3)-equivariant exactly when ``C`` (read as a linear map ``V_{l1} ⊗ V_{l2} → V_{l3}``) is in
the null space of the Lie-algebra constraint

    X^{l3}_a C − C (X^{l1}_a ⊗ I + I ⊗ X^{l2}_a) = 0,        a = x, y, z,

which :func:`prodint.groups.equivariant_basis` solves by SVD (and caches). The space has
dimension 1 when ``|l1 − l2| <= l3 <= l1 + l2`` and 0 otherwise (the selection rule). With
parity (O(3) irreps ``(l, p)``) the inversion adds ``p3 = p1 p2``.

Normalisation and sign: :func:`clebsch_gordan` returns the solver's basis element itself,
reshaped to ``[2l1+1, 2l2+1, 2l3+1]``: it has unit Frobenius norm, ``Σ_ijk C² = 1`` (the norm of
e3nn's ``wigner_3j``), hence ``Σ_ij C[i,j,k] C[i,j,k'] = δ_kk' / (2l3+1)``: ``sqrt(2l3+1) C``
is an isometry ``V_{l3} → V_{l1} ⊗ V_{l2}``, the unitary CG coefficients of physics. The sign
is the solver's (largest-magnitude entry positive). Path normalisations that turn these into
tensor-product coefficients are in :mod:`prodint.symmetry.tensor_product`.
"""

from __future__ import annotations

import functools

from torch import Tensor

from prodint.checks import check_memory
from prodint.groups import equivariant_basis, tensor_product
from prodint.symmetry.irreps import Irrep, as_irrep
from prodint.symmetry.so3 import irrep_representation

__all__ = ["bilinear_basis", "clebsch_gordan", "selection_rule"]


def selection_rule(ir1: Irrep, ir2: Irrep, ir3: Irrep) -> bool:
    """Whether ``ir1 ⊗ ir2`` contains ``ir3``: ``|l1−l2| <= l3 <= l1+l2`` and ``p3 = p1 p2``
    (irreps or strings such as ``"1o"``)."""
    ir1, ir2, ir3 = as_irrep(ir1, "ir1"), as_irrep(ir2, "ir2"), as_irrep(ir3, "ir3")
    return abs(ir1.l - ir2.l) <= ir3.l <= ir1.l + ir2.l and ir3.p == ir1.p * ir2.p


def _so3_basis(l1: int, l2: int, l3: int) -> Tensor:
    """The solver's basis, after estimating the memory of its constraint: ``3 n × n`` with
    ``n = d1 d2 d3`` (and as much again for the decomposition)."""
    n = (2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1)
    check_memory(2 * 3 * n * n * 8, "ir1, ir2, ir3", "equivariance constraint")
    return _solved_basis(l1, l2, l3)


@functools.cache
def _solved_basis(l1: int, l2: int, l3: int) -> Tensor:
    rep_in = tensor_product(irrep_representation(l1), irrep_representation(l2))
    basis = equivariant_basis(rep_in, irrep_representation(l3))  # [m, d3, d1*d2]
    d1, d2, d3 = 2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1
    # Row-major kron: input index i*d2 + j (prodint.groups.combinators).
    return basis.reshape(-1, d3, d1, d2).permute(0, 2, 3, 1).contiguous()


def bilinear_basis(ir1: Irrep | str, ir2: Irrep | str, ir3: Irrep | str) -> Tensor:
    """Orthonormal basis of the O(3)-equivariant bilinear maps ``ir1 × ir2 → ir3``.

    Returns:
        ``[m, d1, d2, d3]`` float64 (a copy) with ``m`` the dimension of that space: the SO(3)
        null space of the Lie-algebra constraint when ``p3 = p1 p2`` (the inversion ``−I``
        commutes with every rotation, so it only multiplies a map by ``p1 p2 p3``), else
        ``m = 0``.

    Raises:
        TypeError, ValueError: an argument that is not an irrep (naming it), or degrees whose
            constraint would not fit in memory.
    """
    a, b, c = as_irrep(ir1, "ir1"), as_irrep(ir2, "ir2"), as_irrep(ir3, "ir3")
    basis = _so3_basis(a.l, b.l, c.l)
    if a.p * b.p != c.p:
        return basis[:0].clone()
    return basis.clone()


def clebsch_gordan(ir1: Irrep | str, ir2: Irrep | str, ir3: Irrep | str) -> Tensor:
    """``C[i, j, k]``, ``[d1, d2, d3]`` float64: the unit-norm equivariant map (module doc).

    Raises:
        ValueError: when the selection rule forbids the path (the space is empty).
        TypeError: an argument that is not an irrep.
    """
    a, b, c = as_irrep(ir1, "ir1"), as_irrep(ir2, "ir2"), as_irrep(ir3, "ir3")
    basis = bilinear_basis(a, b, c)
    if basis.shape[0] != 1:
        raise ValueError(f"ir3: {c} is not in {a} ⊗ {b} (selection rule |l1−l2| <= l3 <= "
                         f"l1+l2 and p3 = p1 p2); the space of equivariant maps has dimension "
                         f"{basis.shape[0]}")
    return basis[0]
