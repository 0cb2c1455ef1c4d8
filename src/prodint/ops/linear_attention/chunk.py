"""Chunked linear attention: parallel within chunks, states across them, no Python loop.

The sequence is cut into ``N`` chunks of ``w`` tokens (the last padded with zeros, which add
nothing to any sum). Per batch and head, a chunk's own state contribution is
``S_loc = K_cᵀ V_c``; the state entering chunk ``c`` is ``S₀ + Σ_{c' < c} S_loc[c']``, an
exclusive prefix sum over chunks; then ``O_c = Q_c S_in[c] + [(Q_c K_cᵀ) ⊙ L] V_c``
(:mod:`prodint.ops.linear_attention.common`). Every step is a batched matmul or a cumulative
sum: ``O(T·(w + Dv) + N·D·Dv)`` memory per head and no per-token ``D × Dv`` state.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.ops.linear_attention.common import (
    LinearAttentionState,
    check_chunk_size,
    check_inputs,
)


def linear_attention_chunk(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                           chunk_size: int = 64,
                           initial_state: LinearAttentionState | None = None,
                           output_final_state: bool = False
                           ) -> tuple[Tensor, LinearAttentionState | None]:
    """Chunked form; see :func:`prodint.ops.linear_attention` for the contract.

    ``chunk_size`` is the chunk length ``w``; it changes memory and speed, never the result.
    """
    b, t, h, d, dv = check_inputs(q, k, v, causal=causal, initial_state=initial_state,
                                  output_final_state=output_final_state)
    chunk_size = check_chunk_size(chunk_size)
    # one copy into [B, H, T, ·] so that every batched matmul below reads contiguous blocks
    qh, kh, vh = (x.transpose(1, 2).contiguous() for x in (q, k, v))
    if not causal:
        return (qh @ (kh.transpose(-1, -2) @ vh)).transpose(1, 2), None
    w = min(chunk_size, max(t, 1))
    n = -(-t // w)
    pad = n * w - t
    if pad:
        qh, kh, vh = (torch.nn.functional.pad(x, (0, 0, 0, pad)) for x in (qh, kh, vh))
    qc, kc, vc = (x.reshape(b, h, n, w, x.shape[-1]) for x in (qh, kh, vh))
    s_loc = kc.transpose(-1, -2) @ vc  # [B, H, N, D, Dv]
    s_end = torch.cumsum(s_loc, dim=2)  # state after each chunk (without S₀)
    # state entering each chunk: the sum before it (shifted, not s_end - s_loc: no cancellation)
    s_in = torch.cat([torch.zeros_like(s_loc[:, :, :1]), s_end[:, :, :-1]], dim=2)
    if initial_state is not None:
        s_in = s_in + initial_state.S.unsqueeze(2)
    lower = torch.ones(w, w, dtype=torch.bool, device=q.device).tril()
    local = ((qc @ kc.transpose(-1, -2)) * lower) @ vc
    o = (local + qc @ s_in).reshape(b, h, n * w, dv)[:, :, :t].transpose(1, 2)
    if not output_final_state:
        return o, None
    final = s_end[:, :, -1] if n else q.new_zeros(b, h, d, dv)
    if initial_state is not None:
        final = final + initial_state.S
    return o, LinearAttentionState(final)
