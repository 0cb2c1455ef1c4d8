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
repeated calls are free; callers always receive fresh tensors.
"""

from __future__ import annotations

import threading

import torch

from prodint.groups.combinators import tensor_product
from prodint.groups.finite import Group
from prodint.groups.representations import Representation

__all__ = [
    "DEFAULT_RTOL",
    "cache_info",
    "clear_cache",
    "constraint_matrix",
    "equivariant_basis",
    "equivariant_bilinear_basis",
    "equivariant_projector",
    "project_equivariant",
]

# A singular value s of the constraint matrix counts as zero when s <= DEFAULT_RTOL * s_max.
# Exactly representable representations (permutations, signs, integer Lie generators) give null
# singular values around 1e-15 and nonzero ones of order 1e-1 or more, so 1e-9 separates them with
# wide margins on both sides while tolerating matrices that carry some float round-off.
DEFAULT_RTOL = 1e-9

_lock = threading.Lock()
_basis_cache: dict[tuple[bytes, bytes, float], torch.Tensor] = {}
_stats = {"hits": 0, "misses": 0}


def _check_pair(rep_in: Representation, rep_out: Representation) -> None:
    for arg, rep in (("rep_in", rep_in), ("rep_out", rep_out)):
        if not isinstance(rep, Representation):
            raise TypeError(f"{arg}: expected a Representation, got {type(rep).__name__}")
    if rep_in.group != rep_out.group:
        raise ValueError(
            "rep_in, rep_out: expected representations of the same group, "
            f"got {rep_in.group.name} and {rep_out.group.name}"
        )


def constraint_matrix(rep_in: Representation, rep_out: Representation) -> torch.Tensor:
    """The stacked equivariance constraints on row-major ``vec(W)``.

    Returns:
        ``[k * D, D]`` float64 with ``D = d_out * d_in`` and ``k`` the number of generators;
        its null space is the space of equivariant maps (``k = 0``, the trivial group, gives an
        empty ``[0, D]`` matrix: every map is equivariant).
    """
    _check_pair(rep_in, rep_out)
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


def equivariant_basis(
    rep_in: Representation, rep_out: Representation, rtol: float = DEFAULT_RTOL
) -> torch.Tensor:
    """An orthonormal basis of the equivariant maps ``V_in -> V_out``.

    Args:
        rep_in: representation on the input space (dimension ``d_in``).
        rep_out: representation of the same group on the output space (dimension ``d_out``).
        rtol: relative singular-value cutoff (see :data:`DEFAULT_RTOL`).

    Returns:
        ``[m, d_out, d_in]`` float64 tensor ``B`` with ``sum_ij B[a, i, j] B[b, i, j] = delta_ab``
        (Frobenius-orthonormal), every ``B[a]`` equivariant, and ``m`` the dimension of the
        space of equivariant maps (e.g. ``|G|`` for the regular representation to itself).

    The result is cached on the representations' digests; a fresh copy is returned each time.
    """
    _check_pair(rep_in, rep_out)
    key = (rep_in.key, rep_out.key, float(rtol))
    with _lock:
        cached = _basis_cache.get(key)
        if cached is not None:
            _stats["hits"] += 1
            return cached.clone()
    basis = _null_space(constraint_matrix(rep_in, rep_out), float(rtol))
    basis = basis.reshape(-1, rep_out.dim, rep_in.dim)
    with _lock:
        _stats["misses"] += 1
        _basis_cache[key] = basis
    return basis.clone()


def equivariant_projector(
    rep_in: Representation, rep_out: Representation, rtol: float = DEFAULT_RTOL
) -> torch.Tensor:
    """Orthogonal projector onto the equivariant maps, acting on row-major ``vec(W)``.

    Returns:
        ``[D, D]`` float64 ``P = B^T B`` with ``B`` the flattened ``[m, D]`` basis and
        ``D = d_out * d_in``; ``P`` is symmetric and idempotent, and ``||vec(W) - P vec(W)||``
        measures how far ``W`` is from being equivariant.
    """
    b = equivariant_basis(rep_in, rep_out, rtol)
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


def equivariant_bilinear_basis(rep: Representation, rtol: float = DEFAULT_RTOL) -> torch.Tensor:
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
    return equivariant_basis(tensor_product(rep, rep), rep, rtol).reshape(-1, n, n, n)


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
