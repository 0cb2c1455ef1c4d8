"""What the SVD solvers share: the singular-value cutoff, the null space, and the cache.

The equivariant maps (:mod:`prodint.groups.equivariance`) and the invariant tensors
(:mod:`prodint.groups.invariants`) are null spaces of stacked linear constraints, found here by
SVD. Results are cached on digests of the representations (and of the support), so repeated
calls are free; callers always receive fresh tensors.
"""

from __future__ import annotations

import threading

import torch

__all__ = ["DEFAULT_RTOL", "cache_info", "cached", "clear_cache", "null_space", "store"]

# A singular value s of the constraint matrix counts as zero when s <= DEFAULT_RTOL * s_max.
# Exactly representable representations (permutations, signs, integer Lie generators) give null
# singular values around 1e-15 and nonzero ones of order 1e-1 or more, so 1e-9 separates them with
# wide margins on both sides while tolerating matrices that carry some float round-off.
#: The relative singular-value tolerance below which a direction is in the null space.
DEFAULT_RTOL = 1e-9

_lock = threading.Lock()
# Keyed by (rep_in.key, rep_out.key, rtol, solver) for maps and by ("invariant", sizes, legs
# and representation keys, support digest, rtol) for invariant tensors.
_basis_cache: dict[tuple, torch.Tensor] = {}
_stats = {"hits": 0, "misses": 0}


def null_space(c: torch.Tensor, rtol: float) -> torch.Tensor:
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


def cached(key: tuple) -> torch.Tensor | None:
    """A fresh copy of the basis stored under ``key`` (counted as a hit), or ``None``."""
    with _lock:
        basis = _basis_cache.get(key)
        if basis is None:
            return None
        _stats["hits"] += 1
        return basis.clone()


def store(key: tuple, basis: torch.Tensor) -> torch.Tensor:
    """Keep ``basis`` under ``key`` (counted as a miss: a computation); a fresh copy."""
    with _lock:
        _stats["misses"] += 1
        _basis_cache[key] = basis
    return basis.clone()


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
