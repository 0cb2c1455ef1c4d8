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
    """Entering states ``P[c+1] = f·P[c] + X[c]``, ``P[0] = P₀`` (zeros), for ``c = 0 … N``.

    ``values`` is ``[B, H, N, …]``; ``factor`` the per-chunk decay ``[H]`` (or ``None``);
    returns ``[B, H, N+1, …]``. A short sequential scan: ``N = T / w`` steps of ``D × D``
    additions, cheaper than any parallel form at these sizes and exact with decay.
    """
    b, h, n = values.shape[:3]
    state = values.new_zeros(b, h, *values.shape[3:]) if start is None else start
    f = None if factor is None else factor.reshape(1, h, *([1] * (values.dim() - 3)))
    states = [state]
    for c in range(n):
        state = (state if f is None else f * state) + values[:, :, c]
        states.append(state)
    return torch.stack(states, 2)


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
    # one copy into [B, H, T, ·] so that every batched matmul below reads contiguous blocks
    qh, kh, vh = (x.transpose(1, 2).contiguous() for x in (q, k, v))
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
    kt = kc.transpose(-1, -2)
    kq = kc @ qc.transpose(-1, -2)  # [B, H, N, w, w]: k_i·q_j
    if gamma is None:
        s_loc = kt @ kc  # [B, H, N, D, D]
        c_loc = qc.transpose(-1, -2) @ vc  # [B, H, N, D, W]
        g_loc = kt @ ((kq * strict) @ vc)  # Σ_i k_i (k_iᵀ C_loc,i-1)
    else:
        to_end = _pow(gamma, (w - 1) - tau, q).unsqueeze(-1).unsqueeze(1)  # γ^{w-1-i}
        s_loc = kt @ (to_end * kc)
        c_loc = qc.transpose(-1, -2) @ (to_end * vc)
        inner = (_pow(gamma, (lag - 1).clamp_min(0), q) * strict).unsqueeze(1)  # γ^{i-1-j}
        g_weight = _pow(gamma, 2 * (w - 1 - tau) + 1, q).unsqueeze(-1).unsqueeze(1)
        g_loc = kt @ (g_weight * ((kq * inner) @ vc))

    # --- entering states of every chunk (and the final one at index N)
    per_chunk = None if gamma_h is None else gamma_h ** w
    s_in = _prefix(s_loc, per_chunk, s0)
    c_in = _prefix(c_loc, per_chunk, c0)
    cross = s_loc @ c_in[:, :, :-1]
    if per_chunk is not None:
        cross = per_chunk.reshape(1, h, 1, 1, 1) * cross
    g_in = _prefix(g_loc + cross, None if per_chunk is None else per_chunk ** 2, g0)

    # --- outputs: pairs before the chunk, then old keys with new values and the chunk itself
    s_c, c_c, g_c = s_in[:, :, :-1], c_in[:, :, :-1], g_in[:, :, :-1]
    a_hat = kq.transpose(-1, -2) * lower  # Â_τi = q_τ·k_i, i ≤ τ
    before = qc @ (s_c @ c_c - g_c)
    old_keys = (qc @ s_c) @ qc.transpose(-1, -2)  # q_τᵀ S q_j
    if gamma is None:
        mixed = (old_keys + a_hat @ a_hat.transpose(-1, -2)) * lower
    else:
        w_lag = (_pow(gamma, lag0, q) * lower).unsqueeze(1)  # γ^{τ-j}
        rows = _pow(gamma, tau + 1, q).unsqueeze(-1).unsqueeze(1)  # γ^{τ+1}
        before = rows * rows * before  # γ^{2(τ+1)}
        mixed = (rows * old_keys + (a_hat * w_lag) @ a_hat.transpose(-1, -2)) * w_lag
    out = before + mixed @ vc
    out = out.reshape(b, h, n * w, width)[:, :, :t]
    if not output_final_state:
        return finish(out, None, None, None, normalize, eps)
    s_t, c_t, g_t = s_in[:, :, -1], c_in[:, :, -1], g_in[:, :, -1]
    if pad and gamma is not None:
        # the padded tokens add nothing but decay the state: undo γ^pad (γ^{2·pad} for G)
        undo = gamma.reshape(1, h, 1, 1) ** -pad
        s_t, c_t, g_t = s_t * undo, c_t * undo, g_t * undo * undo
    return finish(out, s_t, c_t, g_t, normalize, eps)
