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

import itertools

import torch
from torch import Tensor

from prodint.ops.checks import check_chunk_size
from prodint.ops.tensor_attention.common import (
    TensorAttentionState,
    augment,
    check_inputs,
    decay_per_head,
    finish,
)


def _pow(gamma: Tensor | None, exponent: Tensor, like: Tensor) -> Tensor:
    """``γ^e`` as ``[H, *e.shape]`` (ones without decay)."""
    if gamma is None:
        return torch.ones(1, *exponent.shape, dtype=like.dtype, device=like.device)
    g = gamma.reshape(-1, *([1] * exponent.dim()))
    return g ** exponent.to(like.dtype)


def _prefix(values: Tensor, factor: Tensor | None, start: Tensor | None,
            block: int = 16) -> Tensor:
    """Entering states ``P[c+1] = f·P[c] + X[c]``, ``P[0] = P₀`` (zeros), for ``c = 0 … N``.

    ``values`` is ``[B, H, N, …]``; ``factor`` the per-chunk decay ``[H]`` (or ``None``);
    returns ``[B, H, N+1, …]``. Two levels, because each pass over ``N`` states of size
    ``D × D`` costs memory bandwidth: inside blocks of ``block`` chunks the inclusive prefix
    is one small triangular matmul (``f^{i-j}`` weights); a loop over the ``N / block``
    blocks carries the state entering each block, added back with one broadcast pass.
    """
    b, h, n = values.shape[:3]
    tail = values.shape[3:]
    flat = values.reshape(b, h, n, -1)
    feats = flat.shape[-1]
    s = min(block, max(n, 1))
    nb = -(-n // s) if n else 0
    if nb * s != n:
        flat = torch.nn.functional.pad(flat, (0, 0, 0, nb * s - n))
    blocks = flat.reshape(b, h, nb, s, feats)
    i = torch.arange(s, device=values.device)
    lag = i[:, None] - i[None, :]
    if factor is None:
        tri = (lag >= 0).to(values.dtype).reshape(1, 1, 1, s, s)
        rise = torch.ones(1, 1, 1, s, 1, dtype=values.dtype, device=values.device)
        jump = None
    else:
        f = factor.reshape(1, h, 1, 1, 1)
        tri = torch.where(lag >= 0, f ** lag.clamp_min(0).to(values.dtype), torch.zeros_like(f))
        rise = f ** (i + 1).to(values.dtype).reshape(1, 1, 1, s, 1)  # f^{i+1}
        jump = factor.reshape(1, h, 1) ** s
    local = tri @ blocks  # inclusive prefix inside each block
    carry = values.new_zeros(b, h, feats) if start is None else start.reshape(b, h, feats)
    entering = []
    for k in range(nb):
        entering.append(carry)
        carry = local[:, :, k, -1] + (carry if jump is None else jump * carry)
    inclusive = local + rise * torch.stack(entering, 2).unsqueeze(3)
    first = values.new_zeros(b, h, 1, feats) if start is None else start.reshape(b, h, 1, feats)
    out = torch.cat([first, inclusive.reshape(b, h, nb * s, feats)[:, :, :n]], 2)
    return out.reshape(b, h, n + 1, *tail)


#: Bytes of one per-chunk state stack (``[B, H, chunks, D, D]``) in one segment. Larger
#: blocks are served by fresh ``mmap``s whose page faults cost more than the arithmetic.
SEGMENT_BYTES = 1 << 23


def tensor_attention_chunk(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                           chunk_size: int = 64, normalize: bool = False,
                           decay: float | Tensor | None = None, eps: float = 1e-6,
                           initial_state: TensorAttentionState | None = None,
                           output_final_state: bool = False
                           ) -> tuple[Tensor, TensorAttentionState | None]:
    """Chunked form; see :func:`prodint.ops.tensor_attention` for the contract.

    Long sequences are processed in segments of whole chunks (about :data:`SEGMENT_BYTES` of
    state each), the state carried from one segment to the next exactly as between chunks.
    """
    b, t, h, d, dv = check_inputs(q, k, v, causal=causal, normalize=normalize, decay=decay,
                                  eps=eps, initial_state=initial_state,
                                  output_final_state=output_final_state)
    chunk_size = check_chunk_size(chunk_size)
    if not q.numel():  # no token, batch, head or channel: nothing to sum
        return _empty(q, v, initial_state, normalize, output_final_state)
    per_chunk = b * h * d * (max(d, dv) + 1) * q.element_size()
    segment = max(1, SEGMENT_BYTES // per_chunk) * chunk_size
    if not causal:
        return _chunk_segment(q, k, v, causal, chunk_size, normalize, decay, eps,
                              initial_state, output_final_state)
    cuts = [*range(0, t, segment), t]
    tail = t % chunk_size
    if decay is not None and output_final_state and tail and t - tail > cuts[-2]:
        # a padded last chunk would leave the state decayed by γ^pad (undone only by
        # γ^-pad, which overflows for a strong decay): the partial chunk runs on its own
        cuts.insert(-1, t - tail)
    outs, state = [], initial_state
    for start, stop in itertools.pairwise(cuts):
        o, state = _chunk_segment(q[:, start:stop], k[:, start:stop], v[:, start:stop], causal,
                                  chunk_size, normalize, decay, eps, state,
                                  output_final_state or stop < t)
        outs.append(o)
    return (outs[0] if len(outs) == 1 else torch.cat(outs, 1)), state


def _empty(q: Tensor, v: Tensor, state: TensorAttentionState | None, normalize: bool,
           output_final_state: bool) -> tuple[Tensor, TensorAttentionState | None]:
    """The result on rows without an element: zeros ``[B, T, H, Dv]`` and the state
    unchanged (zeros when none is given)."""
    b, t, h, d = q.shape
    dv = v.shape[-1]
    o = q.new_zeros(b, t, h, dv)
    if not output_final_state:
        return o, None
    if state is None:
        state = TensorAttentionState(q.new_zeros(b, h, d, d), q.new_zeros(b, h, d, dv),
                                     q.new_zeros(b, h, d, dv))
        if normalize:
            state = state._replace(m=q.new_zeros(b, h, d), h=q.new_zeros(b, h, d))
    return o, state if normalize else TensorAttentionState(state.S, state.C, state.G)


def _chunk_segment(q: Tensor, k: Tensor, v: Tensor, causal: bool, chunk_size: int,
                   normalize: bool, decay: float | Tensor | None, eps: float,
                   initial_state: TensorAttentionState | None, output_final_state: bool
                   ) -> tuple[Tensor, TensorAttentionState | None]:
    b, t, h = q.shape[0], q.shape[1], q.shape[2]
    # one copy into [B, H, T, ·] so that every batched matmul below reads contiguous blocks
    qh, kh, vh = (x.transpose(1, 2).contiguous() for x in (q, k, v))
    va, s0, c0, g0 = augment(vh, initial_state, normalize)
    if not causal:
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
    # the padded tokens add nothing (the caller avoids them when a decay would age the state)
    s_t, c_t, g_t = s_in[:, :, -1], c_in[:, :, -1], g_in[:, :, -1]
    return finish(out, s_t, c_t, g_t, normalize, eps)
