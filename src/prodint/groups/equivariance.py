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
SVD. Results are cached per pair of representations (keyed on digests of their matrices), so
repeated calls are free; callers always receive fresh tensors. When both representations are
permutation representations the same space is found without linear algebra, as the orbits of
``G`` on index pairs (:mod:`prodint.groups.orbits`): ``solver="auto"`` (the default) does so,
``"svd"`` and ``"orbits"`` force one solver, and tests hold the two projectors equal.

:func:`invariant_basis` is the general form of the SVD solver: the invariant tensors of a
tensor with several legs, each carrying a representation (:mod:`prodint.groups.legs`), with an
optional support mask. It is what Lie-group (and other linear) constraints use;
:func:`~prodint.groups.orbit_partition` is its permutation counterpart.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from prodint.groups.combinators import tensor_product
from prodint.groups.finite import Group
from prodint.groups.legs import BoundSymmetry, Symmetry, bind_symmetries, check_sizes
from prodint.groups.orbits import (
    DEFAULT_MAX_BYTES,
    _check_max_bytes,
    _refuse,
    orbit_basis,
    orbit_partition,
    support_mask,
)
from prodint.groups.permutations import (
    PermutationRepresentation,
    _not_permutation,
    as_permutation,
)
from prodint.groups.representations import Representation

__all__ = [
    "DEFAULT_RTOL",
    "cache_info",
    "choose_solver",
    "clear_cache",
    "constraint_matrix",
    "equivariant_basis",
    "equivariant_bilinear_basis",
    "equivariant_projector",
    "invariant_basis",
    "project_equivariant",
]

SOLVERS = ("auto", "svd", "orbits")

# A singular value s of the constraint matrix counts as zero when s <= DEFAULT_RTOL * s_max.
# Exactly representable representations (permutations, signs, integer Lie generators) give null
# singular values around 1e-15 and nonzero ones of order 1e-1 or more, so 1e-9 separates them with
# wide margins on both sides while tolerating matrices that carry some float round-off.
DEFAULT_RTOL = 1e-9

_lock = threading.Lock()
# Keyed by (rep_in.key, rep_out.key, rtol, solver) for maps and by ("invariant", sizes, legs
# and representation keys, support digest, rtol) for invariant tensors.
_basis_cache: dict[tuple, torch.Tensor] = {}
_stats = {"hits": 0, "misses": 0}


def _check_pair(rep_in: object, rep_out: object) -> None:
    for arg, rep in (("rep_in", rep_in), ("rep_out", rep_out)):
        if not isinstance(rep, Representation | PermutationRepresentation):
            raise TypeError(f"{arg}: expected a Representation, got {type(rep).__name__}")
    assert isinstance(rep_in, Representation | PermutationRepresentation)
    assert isinstance(rep_out, Representation | PermutationRepresentation)
    if rep_in.group != rep_out.group:
        raise ValueError(
            "rep_in, rep_out: expected representations of the same group, "
            f"got {rep_in.group.name} and {rep_out.group.name}"
        )


def constraint_matrix(rep_in: Representation | PermutationRepresentation,
                      rep_out: Representation | PermutationRepresentation) -> torch.Tensor:
    """The stacked equivariance constraints on row-major ``vec(W)``.

    Returns:
        ``[k * D, D]`` float64 with ``D = d_out * d_in`` and ``k`` the number of generators;
        its null space is the space of equivariant maps (``k = 0``, the trivial group, gives an
        empty ``[0, D]`` matrix: every map is equivariant).
    """
    _check_pair(rep_in, rep_out)
    rep_in, rep_out = _dense(rep_in), _dense(rep_out)
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


def _null_space(c: torch.Tensor, rtol: float) -> torch.Tensor:
    """Orthonormal rows spanning ``{v : c v = 0}``; ``[m, D]`` float64."""
    rows, cols = c.shape
    if cols == 0:
        return torch.zeros(0, 0, dtype=torch.float64)
    if rows == 0:
        return torch.eye(cols, dtype=torch.float64)
    # A tall stack is first reduced to its square R factor: same null space and singular values,
    # but the SVD then never forms a [k*D, k*D] left factor.
    if rows > cols:
        c = torch.linalg.qr(c, mode="r").R
    _, s, vh = torch.linalg.svd(c, full_matrices=True)
    s_max = float(s.max()) if s.numel() else 0.0
    rank = int((s > rtol * s_max).sum()) if s_max > 0 else 0
    basis = vh[rank:].clone()
    # Fix each vector's sign (largest-magnitude entry positive) so results are reproducible
    # for one-dimensional spaces regardless of the LAPACK sign choice.
    if basis.numel():
        pivot = basis.abs().argmax(dim=1, keepdim=True)
        basis *= torch.sign(basis.gather(1, pivot))
    return basis


def _is_permutation(rep: Representation | PermutationRepresentation) -> bool:
    return isinstance(rep, PermutationRepresentation) or not _not_permutation(rep)


def _dense(rep: Representation | PermutationRepresentation) -> Representation:
    return rep.representation() if isinstance(rep, PermutationRepresentation) else rep


def _resolve_solver(solver: object, reps: Sequence[Representation | PermutationRepresentation]
                    ) -> str:
    if solver not in SOLVERS:
        raise ValueError(f"solver: expected one of {list(SOLVERS)}, received {solver!r}")
    if solver == "auto":
        # Zero-dimensional spaces have no index tuples to sort into orbits.
        usable = all(r.dim > 0 and _is_permutation(r) for r in reps)
        return "orbits" if usable else "svd"
    return str(solver)


def choose_solver(symmetries: Symmetry | Sequence[Symmetry], solver: str = "auto") -> str:
    """The solver ``solver`` stands for: ``"auto"`` is ``"orbits"`` when every leg of every
    symmetry carries a permutation representation, else ``"svd"``; the others are returned.

    Raises:
        ValueError: an unknown solver name.
    """
    items = [symmetries] if isinstance(symmetries, Mapping) else list(symmetries)
    reps = [rep for sym in items if isinstance(sym, Mapping) for rep in sym.values()
            if isinstance(rep, Representation | PermutationRepresentation)]
    return _resolve_solver(solver, reps)


def equivariant_basis(
    rep_in: Representation | PermutationRepresentation,
    rep_out: Representation | PermutationRepresentation,
    rtol: float = DEFAULT_RTOL,
    *,
    solver: str = "auto",
) -> torch.Tensor:
    """An orthonormal basis of the equivariant maps ``V_in -> V_out``.

    Args:
        rep_in: representation on the input space (dimension ``d_in``).
        rep_out: representation of the same group on the output space (dimension ``d_out``).
        rtol: relative singular-value cutoff of the SVD solver (see :data:`DEFAULT_RTOL`).
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
        ValueError: ``solver="orbits"`` with a representation that is not a permutation one.

    The result is cached on the representations' digests; a fresh copy is returned each time.
    """
    _check_pair(rep_in, rep_out)
    chosen = _resolve_solver(solver, (rep_in, rep_out))
    key = (rep_in.key, rep_out.key, float(rtol), chosen)
    with _lock:
        cached = _basis_cache.get(key)
        if cached is not None:
            _stats["hits"] += 1
            return cached.clone()
    if chosen == "orbits":
        perm_in, perm_out = as_permutation(rep_in, "rep_in"), as_permutation(rep_out, "rep_out")
        labels = orbit_partition((rep_out.dim, rep_in.dim), {0: perm_out, 1: perm_in})
        basis = orbit_basis(labels)
    else:
        dense_in, dense_out = _dense(rep_in), _dense(rep_out)
        basis = _null_space(constraint_matrix(dense_in, dense_out), float(rtol))
        basis = basis.reshape(-1, rep_out.dim, rep_in.dim)
    with _lock:
        _stats["misses"] += 1
        _basis_cache[key] = basis
    return basis.clone()


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
        dense = [(leg, _dense(rep)) for leg, rep in sym.legs]
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
        rtol: relative singular-value cutoff (:data:`DEFAULT_RTOL`).
        max_bytes: refuse (``ValueError`` with the estimate) above this working memory; the
            dense constraints take ``8 · N² · (k + 3)`` bytes for ``N`` entries and ``k``
            generators.

    Returns:
        ``[m, *sizes]`` float64, Frobenius-orthonormal, zero outside ``support``; cached like
        :func:`equivariant_basis` (a fresh copy each time).
    """
    sizes = check_sizes(sizes)
    max_bytes = _check_max_bytes(max_bytes)
    bound = bind_symmetries(sizes, symmetries, names=names)
    mask = support_mask(support, sizes)
    key = ("invariant", sizes, tuple(tuple((leg, rep.key) for leg, rep in sym.legs)
                                     for sym in bound),
           None if mask is None else mask.contiguous().numpy().tobytes(), float(rtol))
    with _lock:
        cached = _basis_cache.get(key)
        if cached is not None:
            _stats["hits"] += 1
            return cached.clone()
    count = math.prod(sizes)
    generators = sum(len(s.group.generators()) if isinstance(s.group, Group) else s.group.dim
                     for s in bound)
    _refuse(f"the SVD solver for {count:,} unknowns and {generators} generators",
            8 * count * count * (generators + 3), max_bytes,
            "Use permutation representations (the orbit solver) or smaller sizes.")
    blocks = [block for sym in bound for block in _operators(sizes, sym)]
    constraints = torch.cat(blocks) if blocks else torch.zeros(0, count, dtype=torch.float64)
    keep = torch.ones(count, dtype=torch.bool) if mask is None else mask.reshape(-1)
    null = _null_space(constraints[:, keep], float(rtol))
    basis = torch.zeros(null.shape[0], count, dtype=torch.float64)
    basis[:, keep] = null
    basis = basis.view(-1, *sizes)
    with _lock:
        _stats["misses"] += 1
        _basis_cache[key] = basis
    return basis.clone()


def equivariant_projector(
    rep_in: Representation | PermutationRepresentation,
    rep_out: Representation | PermutationRepresentation,
    rtol: float = DEFAULT_RTOL,
    *,
    solver: str = "auto",
) -> torch.Tensor:
    """Orthogonal projector onto the equivariant maps, acting on row-major ``vec(W)``.

    Returns:
        ``[D, D]`` float64 ``P = B^T B`` with ``B`` the flattened ``[m, D]`` basis and
        ``D = d_out * d_in``; ``P`` is symmetric and idempotent, and ``||vec(W) - P vec(W)||``
        measures how far ``W`` is from being equivariant.
    """
    b = equivariant_basis(rep_in, rep_out, rtol, solver=solver)
    flat = b.reshape(b.shape[0], -1)
    return flat.T @ flat


def project_equivariant(
    W: torch.Tensor,
    rep_in: Representation,
    rep_out: Representation,
    rtol: float = DEFAULT_RTOL,
) -> torch.Tensor:
    """The Frobenius-nearest equivariant map(s) to ``W``.

    Args:
        W: ``[..., d_out, d_in]`` tensor of any float dtype and device; differentiable.

    Returns:
        Tensor shaped like ``W``: ``sum_a <B_a, W> B_a`` over the orthonormal basis ``B``.
    """
    if not isinstance(W, torch.Tensor):
        raise TypeError(f"W: expected a torch.Tensor, got {type(W).__name__}")
    _check_pair(rep_in, rep_out)
    shape = (rep_out.dim, rep_in.dim)
    if W.dim() < 2 or tuple(W.shape[-2:]) != shape:
        raise ValueError(f"W: expected shape [..., {shape[0]}, {shape[1]}], got {tuple(W.shape)}")
    b = equivariant_basis(rep_in, rep_out, rtol).to(dtype=W.dtype, device=W.device)
    coeff = torch.einsum("kij,...ij->...k", b, W)
    return torch.einsum("...k,kij->...ij", coeff, b)


def equivariant_bilinear_basis(rep: Representation | PermutationRepresentation,
                               rtol: float = DEFAULT_RTOL, *, solver: str = "auto"
                               ) -> torch.Tensor:
    """Basis of equivariant bilinear products ``V x V -> V`` (algebra structure constants).

    A bilinear product on ``V = R^n`` with structure constants ``c[o, i, j]``,
    ``(x * y)_o = sum_ij c[o, i, j] x_i y_j``, is equivariant
    (``rho(g)(x * y) = (rho(g) x) * (rho(g) y)``) exactly when ``c.reshape(n, n*n)`` is an
    equivariant linear map ``V (x) V -> V``. So the equivariant structure constants are spanned by
    ``equivariant_basis(tensor_product(rep, rep), rep)``, reshaped here.

    Returns:
        ``[m, n, n, n]`` float64, Frobenius-orthonormal; for the SO(3) vector representation
        ``m = 1`` and the single element is ``+-epsilon / sqrt(6)`` (the cross product).
    """
    n = rep.dim
    dense = _dense(rep)
    return equivariant_basis(tensor_product(dense, dense), dense, rtol,
                             solver=solver).reshape(-1, n, n, n)


def cache_info() -> dict[str, int]:
    """``{"hits", "misses", "size"}`` of the equivariant-basis cache (misses = computations)."""
    with _lock:
        return {**_stats, "size": len(_basis_cache)}


def clear_cache() -> None:
    """Drop all cached bases and reset the counters."""
    with _lock:
        _basis_cache.clear()
        _stats["hits"] = 0
        _stats["misses"] = 0
