"""Equivariant linear maps between representations, by solving linear constraints.

A linear map ``W: V_in -> V_out`` (a ``[d_out, d_in]`` matrix) is equivariant when

    rho_out(g) W = W rho_in(g)                for every group element g   (finite groups)
    X_out,i W - W X_in,i = 0                  for every Lie generator i    (SO(2), SO(3))

For finite groups it suffices to impose this on a generating set. With the row-major
vectorisation ``vec(A W B) = kron(A, B^T) vec(W)`` (``torch.kron`` and ``W.reshape(-1)``) the
constraints are linear in ``vec(W)``:

    finite:  (kron(rho_out(g), rho_in(g)^{-T}) - I) vec(W) = 0     [D, D],  D = d_out * d_in
    Lie:     (kron(X_out,i, I_in) - kron(I_out, X_in,i^T)) vec(W) = 0

The solution space is the null space of the stacked ``[k * D, D]`` constraint matrix, found by
SVD (:mod:`prodint.groups.svd`, which caches the results per pair of representations). When
both representations are permutation representations the same space is found without linear
algebra, as the orbits of ``G`` on index pairs (:mod:`prodint.groups.orbits`):
``solver="auto"`` (the default) does so, ``"svd"`` and ``"orbits"`` force one solver, and
tests hold the two projectors equal. The invariant tensors of several legs are
:mod:`prodint.groups.invariants`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from prodint.checks import check_choice, check_tensor
from prodint.groups.checks import check_budget, check_kind, check_rtol
from prodint.groups.combinators import tensor_product
from prodint.groups.finite import Group
from prodint.groups.legs import Symmetry, symmetry_items
from prodint.groups.orbits import DEFAULT_MAX_BYTES, orbit_basis, orbit_partition
from prodint.groups.permutations import (
    PermutationRepresentation,
    _not_permutation,
    as_permutation,
    dense_representation,
)
from prodint.groups.representations import Representation
from prodint.groups.svd import DEFAULT_RTOL, cached, null_space, store

__all__ = [
    "SOLVERS",
    "choose_solver",
    "constraint_matrix",
    "equivariant_basis",
    "equivariant_bilinear_basis",
    "equivariant_projector",
    "project_equivariant",
]

#: The equivariance solvers: the SVD null space, orbits of a permutation representation, or
#: the one :func:`choose_solver` picks (``auto``).
SOLVERS = ("auto", "svd", "orbits")

AnyRepresentation = Representation | PermutationRepresentation

# The float dtypes project_equivariant computes in (the basis is cast to that of ``W``).
_PROJECTION_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_pair(rep_in: object, rep_out: object) -> None:
    for arg, rep in (("rep_in", rep_in), ("rep_out", rep_out)):
        check_kind(rep, arg, (Representation, PermutationRepresentation), "a Representation")
    assert isinstance(rep_in, AnyRepresentation) and isinstance(rep_out, AnyRepresentation)
    if rep_in.group != rep_out.group:
        raise ValueError(
            "rep_in, rep_out: expected representations of the same group, "
            f"got {rep_in.group.name} and {rep_out.group.name}"
        )


def _generator_count(rep: AnyRepresentation) -> int:
    group = rep.group
    return len(group.generators()) if isinstance(group, Group) else group.dim


def _check_svd(unknowns: int, generators: int, argument: str) -> None:
    """Refuse the dense constraints and the SVD of ``unknowns`` unknowns above the budget."""
    check_budget(8 * unknowns * unknowns * (generators + 3), argument,
                 f"working memory of the SVD solver for {unknowns:,} unknowns and "
                 f"{generators} generators")


def constraint_matrix(rep_in: AnyRepresentation, rep_out: AnyRepresentation) -> torch.Tensor:
    """The stacked equivariance constraints on row-major ``vec(W)``.

    Returns:
        ``[k * D, D]`` float64 with ``D = d_out * d_in`` and ``k`` the number of generators;
        its null space is the space of equivariant maps (``k = 0``, the trivial group, gives an
        empty ``[0, D]`` matrix: every map is equivariant).

    Raises:
        TypeError: ``rep_in`` or ``rep_out`` is not a representation.
        ValueError: representations of different groups, or a matrix above the memory budget.
    """
    _check_pair(rep_in, rep_out)
    unknowns = rep_in.dim * rep_out.dim
    check_budget(8 * unknowns * unknowns * (_generator_count(rep_in) + 2), "rep_in, rep_out",
                 f"constraint matrix on {unknowns:,} unknowns")
    rep_in, rep_out = dense_representation(rep_in), dense_representation(rep_out)
    d_in, d_out = rep_in.dim, rep_out.dim
    eye_in = torch.eye(d_in, dtype=torch.float64)
    eye_out = torch.eye(d_out, dtype=torch.float64)
    blocks = []
    group = rep_in.group
    if isinstance(group, Group):
        gens = group.generators()
        inv = group._inverse[gens]
        assert rep_in._matrices is not None and rep_out._matrices is not None
        # Using rho_in(g^-1) from the table avoids a numerical inverse.
        for g, gi in zip(gens, inv.tolist(), strict=True):
            a = rep_out._matrices[g]
            b_t = rep_in._matrices[gi].T.contiguous()
            blocks.append(torch.kron(a, b_t) - torch.eye(d_out * d_in, dtype=torch.float64))
    else:
        for x_in, x_out in zip(rep_in._generators, rep_out._generators, strict=True):
            blocks.append(torch.kron(x_out, eye_in) - torch.kron(eye_out, x_in.T.contiguous()))
    if not blocks:
        return torch.zeros(0, d_out * d_in, dtype=torch.float64)
    return torch.cat(blocks, dim=0)


def _is_permutation(rep: AnyRepresentation) -> bool:
    return isinstance(rep, PermutationRepresentation) or not _not_permutation(rep)


def _resolve_solver(solver: object, reps: Sequence[AnyRepresentation]) -> str:
    check_choice(solver, "solver", SOLVERS)
    if solver == "auto":
        # Zero-dimensional spaces have no index tuples to sort into orbits.
        usable = all(r.dim > 0 and _is_permutation(r) for r in reps)
        return "orbits" if usable else "svd"
    return str(solver)


def choose_solver(symmetries: Symmetry | Sequence[Symmetry], solver: str = "auto") -> str:
    """The solver ``solver`` stands for: ``"auto"`` is ``"orbits"`` when every leg of every
    symmetry carries a permutation representation, else ``"svd"``; the others are returned.

    Raises:
        TypeError: ``symmetries`` is not a mapping or a sequence of mappings.
        ValueError: no symmetry, a symmetry without legs, an unknown solver name.
    """
    items = symmetry_items(symmetries, "symmetries")
    reps = [rep for sym in items for rep in sym.values()
            if isinstance(rep, Representation | PermutationRepresentation)]
    return _resolve_solver(solver, reps)


def _basis(rep_in: AnyRepresentation, rep_out: AnyRepresentation, rtol: float, solver: str,
           argument: str) -> torch.Tensor:
    """:func:`equivariant_basis` on checked representations; ``argument`` names them in the
    messages of the memory checks."""
    chosen = _resolve_solver(solver, (rep_in, rep_out))
    key = (rep_in.key, rep_out.key, rtol, chosen)
    hit = cached(key)
    if hit is not None:
        return hit
    unknowns = rep_in.dim * rep_out.dim
    generators = _generator_count(rep_in)
    if chosen == "orbits":
        perm_in, perm_out = as_permutation(rep_in, "rep_in"), as_permutation(rep_out, "rep_out")
        check_budget(8 * unknowns * (generators + 6), argument,
                     f"orbit search over {unknowns:,} index pairs", DEFAULT_MAX_BYTES)
        labels = orbit_partition((rep_out.dim, rep_in.dim), {0: perm_out, 1: perm_in})
        orbits = int(labels.max()) + 1
        check_budget(8 * orbits * unknowns, argument,
                     f"dense basis of {orbits:,} orbits over {unknowns:,} index pairs",
                     DEFAULT_MAX_BYTES)
        basis = orbit_basis(labels)
    else:
        _check_svd(unknowns, generators, argument)
        dense_in, dense_out = dense_representation(rep_in), dense_representation(rep_out)
        basis = null_space(constraint_matrix(dense_in, dense_out), rtol)
        basis = basis.reshape(-1, rep_out.dim, rep_in.dim)
    return store(key, basis)


def equivariant_basis(
    rep_in: AnyRepresentation,
    rep_out: AnyRepresentation,
    rtol: float = DEFAULT_RTOL,
    *,
    solver: str = "auto",
) -> torch.Tensor:
    """An orthonormal basis of the equivariant maps ``V_in -> V_out``.

    Args:
        rep_in: representation on the input space (dimension ``d_in``).
        rep_out: representation of the same group on the output space (dimension ``d_out``).
        rtol: relative singular-value cutoff of the SVD solver (see :data:`DEFAULT_RTOL`), in
            :data:`~prodint.groups.checks.RTOL_RANGE`.
        solver: ``"auto"`` (orbits when both representations are permutation
            representations, else SVD), ``"svd"`` or ``"orbits"``.

    Returns:
        ``[m, d_out, d_in]`` float64 tensor ``B`` with ``sum_ij B[a, i, j] B[b, i, j] = delta_ab``
        (Frobenius-orthonormal), every ``B[a]`` equivariant, and ``m`` the dimension of the
        space of equivariant maps (e.g. ``|G|`` for the regular representation to itself).
        The orbit solver returns the normalised indicators of the orbits of ``G`` on index
        pairs ``(o, i)``, in order of first appearance; the SVD solver another orthonormal
        basis of the same space.

    Raises:
        TypeError: a representation of the wrong kind, ``rtol`` not a real number.
        ValueError: representations of different groups, ``rtol`` outside its range, an
            unknown solver, ``solver="orbits"`` with a representation that is not a
            permutation one, working memory above the budget (the message gives the estimate).

    The result is cached on the representations' digests; a fresh copy is returned each time.
    """
    _check_pair(rep_in, rep_out)
    return _basis(rep_in, rep_out, check_rtol(rtol), solver, "rep_in, rep_out")


def equivariant_projector(
    rep_in: AnyRepresentation,
    rep_out: AnyRepresentation,
    rtol: float = DEFAULT_RTOL,
    *,
    solver: str = "auto",
) -> torch.Tensor:
    """Orthogonal projector onto the equivariant maps, acting on row-major ``vec(W)``.

    Returns:
        ``[D, D]`` float64 ``P = B^T B`` with ``B`` the flattened ``[m, D]`` basis and
        ``D = d_out * d_in``; ``P`` is symmetric and idempotent, and ``||vec(W) - P vec(W)||``
        measures how far ``W`` is from being equivariant (``P = 0`` when no map is).

    Raises:
        As :func:`equivariant_basis`.
    """
    b = equivariant_basis(rep_in, rep_out, rtol, solver=solver)
    flat = b.reshape(b.shape[0], rep_out.dim * rep_in.dim)
    return flat.T @ flat


def project_equivariant(
    W: torch.Tensor,
    rep_in: AnyRepresentation,
    rep_out: AnyRepresentation,
    rtol: float = DEFAULT_RTOL,
) -> torch.Tensor:
    """The Frobenius-nearest equivariant map(s) to ``W``.

    Args:
        W: ``[..., d_out, d_in]`` tensor of a float dtype (float16, bfloat16, float32,
            float64) on any device; differentiable.

    Returns:
        Tensor shaped like ``W``: ``sum_a <B_a, W> B_a`` over the orthonormal basis ``B``.

    Raises:
        TypeError: ``W`` is not a float tensor; as :func:`equivariant_basis`.
        ValueError: ``W`` of the wrong shape; as :func:`equivariant_basis`.
    """
    check_tensor(W, "W", dtypes=_PROJECTION_DTYPES)
    _check_pair(rep_in, rep_out)
    shape = (rep_out.dim, rep_in.dim)
    if W.dim() < 2 or tuple(W.shape[-2:]) != shape:
        raise ValueError(f"W: expected shape [..., {shape[0]}, {shape[1]}], got {tuple(W.shape)}")
    b = equivariant_basis(rep_in, rep_out, rtol).to(dtype=W.dtype, device=W.device)
    coeff = torch.einsum("kij,...ij->...k", b, W)
    return torch.einsum("...k,kij->...ij", coeff, b)


def equivariant_bilinear_basis(rep: AnyRepresentation, rtol: float = DEFAULT_RTOL, *,
                               solver: str = "auto") -> torch.Tensor:
    """Basis of equivariant bilinear products ``V x V -> V`` (algebra structure constants).

    A bilinear product on ``V = R^n`` with structure constants ``c[o, i, j]``,
    ``(x * y)_o = sum_ij c[o, i, j] x_i y_j``, is equivariant
    (``rho(g)(x * y) = (rho(g) x) * (rho(g) y)``) exactly when ``c.reshape(n, n*n)`` is an
    equivariant linear map ``V (x) V -> V``. So the equivariant structure constants are spanned by
    ``equivariant_basis(tensor_product(rep, rep), rep)``, reshaped here.

    Returns:
        ``[m, n, n, n]`` float64, Frobenius-orthonormal; for the SO(3) vector representation
        ``m = 1`` and the single element is ``+-epsilon / sqrt(6)`` (the cross product).

    Raises:
        TypeError: ``rep`` is not a representation; ``rtol`` not a real number.
        ValueError: ``rtol`` outside its range, an unknown solver, the ``n²``-dimensional
            tensor square or its solver above the memory budget.
    """
    check_kind(rep, "rep", (Representation, PermutationRepresentation), "a Representation")
    rtol = check_rtol(rtol)
    n = rep.dim
    generators = _generator_count(rep)
    count = rep.group.order if isinstance(rep.group, Group) else generators
    check_budget(24 * count * n**4, "rep", f"{count} matrices of size {n * n:,} (V ⊗ V)")
    if solver == "svd":
        _check_svd(n**3, generators, "rep")
    dense = dense_representation(rep)
    return _basis(tensor_product(dense, dense), dense, rtol, solver,
                  "rep").reshape(-1, n, n, n)
