"""Reference tensor attention: the ``T × T`` definition, written for clarity.

Causal, per batch and head, with ``A = Q Kᵀ`` and decay weights ``w_{ti} = γ^{t-i}``::

    o_t = Σ_{j ≤ t} γ^{t-j} [ Σ_{i ≤ j} γ^{t-i} A_{ti} A_{ji} ] v_j
          + γ^{2(t+1)} q_tᵀ (S₀ C₀ − G₀) + Σ_{j ≤ t} γ^{2t+1-j} (q_tᵀ S₀ q_j) v_j

where the last two terms carry an initial state ``(S₀, C₀, G₀)`` (the terms linking old keys
to new values cancel). Non-causal: ``O = Q (KᵀK) (QᵀV)``. Normalisation divides by the same
expressions with ``v = 1``. The final state is summed directly from its definition.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.ops.tensor_attention.common import (
    TensorAttentionState,
    augment,
    check_inputs,
    decay_per_head,
    finish,
)


def _powers(gamma: Tensor | None, exponents: Tensor, like: Tensor) -> Tensor:
    """``γ^e`` broadcast to ``[H, ...exponents]`` (ones without decay; 0 where e < 0)."""
    if gamma is None:
        out = torch.ones(exponents.shape, dtype=like.dtype, device=like.device)
        return torch.where(exponents >= 0, out, torch.zeros_like(out)).unsqueeze(0)
    g = gamma.reshape(-1, *([1] * exponents.dim()))
    e = exponents.to(like.dtype)
    return torch.where(exponents >= 0, g ** e.clamp_min(0), torch.zeros_like(g * e))


def tensor_attention_naive(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                           normalize: bool = False, decay: float | Tensor | None = None,
                           eps: float = 1e-6, initial_state: TensorAttentionState | None = None,
                           output_final_state: bool = False
                           ) -> tuple[Tensor, TensorAttentionState | None]:
    """Reference implementation; see :func:`prodint.ops.tensor_attention` for the contract."""
    _, t, h, _, _ = check_inputs(q, k, v, causal=causal, normalize=normalize, decay=decay,
                                  eps=eps, initial_state=initial_state,
                                  output_final_state=output_final_state)
    qh, kh, vh = (x.transpose(1, 2) for x in (q, k, v))  # [B, H, T, ·]
    va, s0, c0, g0 = augment(vh, initial_state, normalize)
    if not causal:
        out = qh @ ((kh.transpose(-1, -2) @ kh) @ (qh.transpose(-1, -2) @ va))
        return finish(out, None, None, None, normalize, eps)
    gamma = decay_per_head(decay, h, q)
    pos = torch.arange(t, device=q.device)
    lag = pos[:, None] - pos[None, :]  # t - i
    w = _powers(gamma, lag, q)  # [H, T, T]: γ^{t-i} for i ≤ t, else 0
    causal_mask = (lag >= 0).to(q.dtype)
    a = qh @ kh.transpose(-1, -2)  # A_ti = q_t·k_i
    inner = (a * w) @ (a * causal_mask).transpose(-1, -2)  # Σ_{i≤j} γ^{t-i} A_ti A_ji
    out = (inner * w) @ va
    if initial_state is not None:
        assert s0 is not None and c0 is not None and g0 is not None
        first = _powers(gamma, 2 * (pos + 1), q).unsqueeze(-1)  # γ^{2(t+1)}
        out = out + first * (qh @ (s0 @ c0 - g0))
        second = _powers(gamma, pos + 1, q).unsqueeze(-1) * w  # γ^{t+1} γ^{t-j}
        out = out + ((qh @ s0 @ qh.transpose(-1, -2)) * second) @ va
    if not output_final_state:
        return finish(out, None, None, None, normalize, eps)
    # Final state from its definition (C_{i-1} for every i is O(T·Dv), fine for a reference).
    to_end = _powers(gamma, (t - 1) - pos, q).unsqueeze(-1)  # γ^{T-1-i}
    s_t = kh.transpose(-1, -2) @ (to_end * kh)
    c_t = qh.transpose(-1, -2) @ (to_end * va)
    strict = _powers(gamma, lag - 1, q) * (lag >= 1).to(q.dtype)  # γ^{i-1-j}, j < i
    r = ((kh @ qh.transpose(-1, -2)) * strict) @ va  # k_iᵀ C_{i-1} (local part)
    g_t = kh.transpose(-1, -2) @ (_powers(gamma, 2 * (t - 1 - pos) + 1, q).unsqueeze(-1) * r)
    if initial_state is not None:
        assert s0 is not None and c0 is not None and g0 is not None
        decay_all = _powers(gamma, torch.tensor(t, device=q.device), q).reshape(-1, 1, 1)
        s_t = s_t + decay_all * s0
        c_t = c_t + decay_all * c0
        # old C reaching new keys: Σ_i γ^{2T-2i-1} γ^{i} k_i k_iᵀ C₀ = γ^T S_loc C₀
        g_t = g_t + decay_all * decay_all * g0 + decay_all * (s_t - decay_all * s0) @ c0
    return finish(out, s_t, c_t, g_t, normalize, eps)
