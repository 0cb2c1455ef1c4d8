"""The single-token step of :mod:`prodint.ops.tensor_attention.step` as one fused CPU loop.

Per head ``h`` (``Sᵀ`` stored, ``M = S C − G``, rows ``q | k | v`` of the token)::

    pass 1, rows j of Sᵀ:   Sᵀ[j, :] ← γ_h Sᵀ[j, :] + k_j k         u += q_j Sᵀ[j, :]
    pass 2, rows j of M:    M[j, :]  ← γ_h² M[j, :] + u_j v          o += q_j M[j, :]

so ``u = S_t q_t`` and ``o = q_tᵀ M_t`` are accumulated while the state is updated: the state
is read and written once per token, where the four separate products read it twice, and the
per-call cost of four torch operations (a few microseconds each, more than their arithmetic
at ``H = 8``, ``D = 64``) becomes one call. With ``normalize`` the value row carries a last
column of ones and the output is ``o[:Dv] / g(o[Dv])`` with the signed guard
``g(n) = sign(n)·max(|n|, eps)``, ``sign(0) = +1``
(:func:`~prodint.interaction.normalize.signed_guard`).

The same sums as the torch products, accumulated in another order: equal to rounding, which
the tests of ``tests/ops/test_tensor_attention_step.py`` hold to 1e-12 in float64 against the
torch form.

The loop is compiled by numba (the optional ``fast`` extra, ``pip install 'prodint[fast]'``)
on first use, one compilation per dtype, cached on disk; :func:`available` says whether it is
installed. Without it the step runs its torch products.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["available", "compiled"]


def available() -> bool:
    """Whether numba is installed, so that :func:`compiled` can build the fused loop."""
    return importlib.util.find_spec("numba") is not None


def _fused(st: Any, m: Any, rows: Any, gamma: Any, gamma2: Any, heads: int, dv: int,
           normalize: bool, eps: float) -> Any:
    """``st [BH, D, D]`` (``Sᵀ``) and ``m [BH, D, W]`` updated in place, ``rows [BH, 2D + W]``,
    ``gamma, gamma2 [BH]`` (``γ``, ``γ²`` per row of the batch); returns ``o [B, H, Dv]``
    (``H = heads``; ``W = Dv + 1`` with ``normalize``, else ``Dv``). Run compiled
    (:func:`compiled`)."""
    bh, d = st.shape[0], st.shape[1]
    w = m.shape[2]
    out = np.empty((bh // heads, heads, dv), dtype=st.dtype)
    u = np.empty(d, dtype=st.dtype)
    o = np.empty(w, dtype=st.dtype)
    for h in range(bh):
        g, g2 = gamma[h], gamma2[h]
        q, k, v = rows[h, :d], rows[h, d:2 * d], rows[h, 2 * d:]
        sh, mh = st[h], m[h]
        u[:] = 0.0
        for j in range(d):  # pass 1: Sᵀ row by row, u = S q on the way
            kj, qj, row = k[j], q[j], sh[j]
            for i in range(d):
                s = g * row[i] + kj * k[i]
                row[i] = s
                u[i] += qj * s
        o[:] = 0.0
        for j in range(d):  # pass 2: M row by row, o = qᵀ M on the way
            uj, qj, row = u[j], q[j], mh[j]
            for c in range(w):
                x = g2 * row[c] + uj * v[c]
                row[c] = x
                o[c] += qj * x
        row = out[h // heads, h % heads]
        if normalize:
            n = o[dv]
            den = max(abs(n), eps)
            if n < 0:
                den = -den
            for c in range(dv):
                row[c] = o[c] / den
        else:
            for c in range(dv):
                row[c] = o[c]
    return out


@functools.cache
def compiled() -> Callable[..., Any]:
    """The fused loop compiled by numba (compiled per dtype at its first call, cached on
    disk), called as ``fn(st, m, rows, gamma, gamma2, heads, dv, normalize, eps) → o`` on
    numpy arrays (shapes in the module doc).

    Raises:
        ModuleNotFoundError: numba is not installed (:func:`available`).
    """
    import numba

    return numba.njit(cache=True, nogil=True, boundscheck=False)(_fused)  # type: ignore[no-any-return]
