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


def _fused(st: Any, m: Any, rows: Any, gamma: Any, gamma2: Any, out: Any, normalize: bool,
           eps: float) -> None:
    """``st [BH, D, D]`` (``Sᵀ``) and ``m [BH, D, W]`` updated in place, ``rows [BH, 2D + W]``,
    ``gamma, gamma2 [BH]`` (``γ``, ``γ²`` per row of the batch), ``out [BH, Dv]`` written;
    ``W = Dv + 1`` with ``normalize``, else ``Dv``. Run compiled (:func:`compiled`)."""
    bh, d = st.shape[0], st.shape[1]
    w = m.shape[2]
    dv = out.shape[1]
    u = np.empty(d, dtype=st.dtype)
    o = np.empty(w, dtype=st.dtype)
    for h in range(bh):
        g, g2 = gamma[h], gamma2[h]
        u[:] = 0.0
        for j in range(d):
            kj, qj = rows[h, d + j], rows[h, j]
            for i in range(d):
                s = g * st[h, j, i] + kj * rows[h, d + i]
                st[h, j, i] = s
                u[i] += qj * s
        o[:] = 0.0
        for j in range(d):
            uj, qj = u[j], rows[h, j]
            for c in range(w):
                x = g2 * m[h, j, c] + uj * rows[h, 2 * d + c]
                m[h, j, c] = x
                o[c] += qj * x
        if normalize:
            n = o[dv]
            den = max(abs(n), eps)
            if n < 0:
                den = -den
            for c in range(dv):
                out[h, c] = o[c] / den
        else:
            for c in range(dv):
                out[h, c] = o[c]


@functools.cache
def compiled() -> Callable[..., None]:
    """The fused loop compiled by numba (compiled per dtype at its first call, cached on
    disk), called as ``fn(st, m, rows, gamma, gamma2, out, normalize, eps)`` on numpy arrays
    (shapes in the module doc).

    Raises:
        ModuleNotFoundError: numba is not installed (:func:`available`).
    """
    import numba

    return numba.njit(cache=True, nogil=True)(_fused)  # type: ignore[no-any-return]
