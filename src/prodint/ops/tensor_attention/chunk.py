"""Chunked tensor attention: parallel within chunks, states across them, no Python loop.

The sequence is cut into ``N`` chunks of length ``w`` (the last padded with zeros). For a
chunk with local positions ``τ`` and entering state ``(S, C, G)``::

    O_c = γ^{2(τ+1)} Q_c (S C − G)                       (pairs entirely before the chunk)
        + [(Q_c S Q_cᵀ) ⊙ Γ₁] V_c                         (old keys, new values)
        + [(Ã Âᵀ) ⊙ Γ₂] V_c                               (everything inside the chunk)

with ``Â = L ⊙ (Q_c K_cᵀ)``, ``Ã = Â ⊙ γ^{τ-i}``, ``Γ₁[τ, j] = γ^{2τ+1-j}``,
``Γ₂[τ, j] = γ^{τ-j}`` (both lower triangular). A chunk's own contribution to the state at
its end is ``S_loc = K_cᵀ diag(γ^{w-1-i}) K_c``, ``C_loc = Q_cᵀ diag(γ^{w-1-j}) V_c`` and
``G_loc = K_cᵀ diag(γ^{2w-1-2i}) [(K_c Q_cᵀ) ⊙ γ^{i-1-j} ⊙ L_strict] V_c``; states combine as
``S' = γ^w S + S_loc``, ``C' = γ^w C + C_loc``, ``G' = γ^{2w} G + G_loc + γ^w S_loc C``. The
entering states of all chunks are therefore matrix products with the ``N × N`` decay matrix
(prefix sums when ``γ = 1``): every step is a batched matmul, and memory is
``O(T·(w + D) + N·D²)`` per head: no per-token ``D × D`` state is ever formed, forward or
backward.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.ops.tensor_attention.common import (
    TensorAttentionState,
    augment,
    check_inputs,
    check_state,
    decay_per_head,
    finish,
)


def _pow(gamma: Tensor | None, exponent: Tensor, like: Tensor) -> Tensor:
    """``γ^e`` as ``[H, *e.shape]`` (ones without decay)."""
    if gamma is None:
        return torch.ones(1, *exponent.shape, dtype=like.dtype, device=like.device)
    g = gamma.reshape(-1, *([1] * exponent.dim()))
    return g ** exponent.to(like.dtype)


def _prefix(values: Tensor, factor: Tensor | None, start: Tensor | None) -> Tensor:
    """Entering states ``P[c] = Σ_{c'<c} f^{c-1-c'} X[c'] + f^c P₀`` for ``c = 0 … N``.

    ``values`` is ``[B, H, N, …]``; ``factor`` the per-chunk decay ``[H]`` (or ``None``);
    returns ``[B, H, N+1, …]``.
    """
    b, h, n = values.shape[:3]
    flat = values.reshape(b, h, n, -1)
    c = torch.arange(n + 1, device=values.device)
    lag = c[:, None] - 1 - torch.arange(n, device=values.device)[None, :]  # c-1-c'
    if factor is None:
        mix = (lag >= 0).to(values.dtype).unsqueeze(0)  # [1, N+1, N]
    else:
        f = factor.reshape(-1, 1, 1)
        mix = torch.where(lag >= 0, f ** lag.clamp_min(0).to(values.dtype),
                          torch.zeros_like(f * lag))
    out = mix @ flat  # [B, H, N+1, F]
    if start is not None:
        start = start.reshape(b, h, 1, -1)
        if factor is not None:  # f^c for c = 0 … N
            start = factor.reshape(-1, 1, 1) ** c.to(values.dtype).reshape(1, -1, 1) * start
        out = out + start
    return out.reshape(b, h, n + 1, *values.shape[3:])


def tensor_attention_chunk(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                           chunk_size: int = 64, normalize: bool = False,
                           decay: float | Tensor | None = None, eps: float = 1e-6,
                           initial_state: TensorAttentionState | None = None,
                           output_final_state: bool = False
                           ) -> tuple[Tensor, TensorAttentionState | None]:
    """Chunked form; see :func:`prodint.ops.tensor_attention` for the contract."""
    b, t, h, d, dv = check_inputs(q, k, v, "chunk", decay, causal)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive int, received {chunk_size!r}")
    check_state(initial_state, b, h, d, dv, normalize)
    qh, kh, vh = (x.transpose(1, 2) for x in (q, k, v))
    va, s0, c0, g0 = augment(vh, initial_state, normalize)
    if not causal:
        if initial_state is not None or output_final_state:
            raise ValueError("initial_state/output_final_state: expected causal=True for a "
                             "streaming state")
        out = qh @ ((kh.transpose(-1, -2) @ kh) @ (qh.transpose(-1, -2) @ va))
        return finish(out, None, None, None, normalize, eps)
    w = min(chunk_size, max(t, 1))
    n = -(-t // w) if t else 0
    pad = n * w - t
    if pad:
        qh, kh, va = (torch.nn.functional.pad(x, (0, 0, 0, pad)) for x in (qh, kh, va))
    width = va.shape[-1]
    qc, kc, vc = (x.reshape(b, h, n, w, x.shape[-1]) for x in (qh, kh, va))
    gamma = decay_per_head(decay, h, q)
    gamma_h = None if gamma is None else gamma.reshape(h)
    tau = torch.arange(w, device=q.device)
    lag = tau[:, None] - tau[None, :]  # τ - i
    lower = (lag >= 0).to(q.dtype)
    strict = (lag >= 1).to(q.dtype)
    lag0 = lag.clamp_min(0)

    # --- each chunk's own contribution to the state at its end
    to_end = _pow(gamma, (w - 1) - tau, q).unsqueeze(-1)  # [H|1, w, 1]
    kt = kc.transpose(-1, -2)
    s_loc = kt @ (to_end.unsqueeze(1) * kc)  # [B, H, N, D, D]
    c_loc = qc.transpose(-1, -2) @ (to_end.unsqueeze(1) * vc)  # [B, H, N, D, W]
    inner_decay = _pow(gamma, (lag - 1).clamp_min(0), q) * strict  # γ^{i-1-j}, j < i
    r = ((kc @ qc.transpose(-1, -2)) * inner_decay.unsqueeze(1)) @ vc  # k_iᵀ C_loc,i-1
    g_weight = _pow(gamma, 2 * (w - 1 - tau) + 1, q).unsqueeze(-1)
    g_loc = kt @ (g_weight.unsqueeze(1) * r)

    # --- entering states of every chunk (and the final one at index N)
    per_chunk = None if gamma_h is None else gamma_h ** w
    s_in = _prefix(s_loc, per_chunk, s0)
    c_in = _prefix(c_loc, per_chunk, c0)
    cross = s_loc @ c_in[:, :, :-1]
    if per_chunk is not None:
        cross = per_chunk.reshape(1, h, 1, 1, 1) * cross
    g_in = _prefix(g_loc + cross, None if per_chunk is None else per_chunk ** 2, g0)

    # --- outputs
    s_c, c_c, g_c = s_in[:, :, :-1], c_in[:, :, :-1], g_in[:, :, :-1]
    qs = qc @ s_c  # [B, H, N, w, D]
    first = _pow(gamma, 2 * (tau + 1), q).unsqueeze(-1).unsqueeze(1)
    out = first * (qs @ c_c - qc @ g_c)
    w_lag = _pow(gamma, lag0, q) * lower  # γ^{τ-j} on the lower triangle
    gamma1 = (_pow(gamma, tau + 1, q).unsqueeze(-1) * w_lag).unsqueeze(1)
    out = out + ((qs @ qc.transpose(-1, -2)) * gamma1) @ vc
    a_hat = (qc @ kt) * lower
    a_tilde = a_hat * w_lag.unsqueeze(1)
    out = out + ((a_tilde @ a_hat.transpose(-1, -2)) * w_lag.unsqueeze(1)) @ vc
    out = out.reshape(b, h, n * w, width)[:, :, :t]
    if not output_final_state:
        return finish(out, None, None, None, normalize, eps)
    s_t, c_t, g_t = s_in[:, :, -1], c_in[:, :, -1], g_in[:, :, -1]
    if pad and gamma is not None:
        # the padded tokens add nothing but decay the state: undo γ^pad (γ^{2·pad} for G)
        undo = gamma.reshape(1, h, 1, 1) ** -pad
        s_t, c_t, g_t = s_t * undo, c_t * undo, g_t * undo * undo
    return finish(out, s_t, c_t, g_t, normalize, eps)
