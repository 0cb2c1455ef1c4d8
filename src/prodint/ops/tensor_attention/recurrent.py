"""Token-by-token tensor attention: the streaming recurrence with ``O(d² + d·d_v)`` state.

See :mod:`prodint.ops.tensor_attention.common` for the recurrence. Each step computes
``(q_tᵀ S_t) C_t`` (a vector–matrix product), never ``S_t C_t``, so a step costs
``O(d² + d·d_v)`` whatever the position.
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


def tensor_attention_recurrent(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                               normalize: bool = False, decay: float | Tensor | None = None,
                               eps: float = 1e-6,
                               initial_state: TensorAttentionState | None = None,
                               output_final_state: bool = False
                               ) -> tuple[Tensor, TensorAttentionState | None]:
    """Streaming form; see :func:`prodint.ops.tensor_attention` for the contract."""
    b, t, h, d, _ = check_inputs(q, k, v, causal=causal, normalize=normalize, decay=decay,
                                  eps=eps, initial_state=initial_state,
                                  output_final_state=output_final_state)
    if not causal:
        raise ValueError("causal: the recurrent form is causal, expected True")
    qh, kh, vh = (x.transpose(1, 2) for x in (q, k, v))
    va, s, c, g = augment(vh, initial_state, normalize)
    width = va.shape[-1]
    if s is None:
        s = q.new_zeros(b, h, d, d)
        c = q.new_zeros(b, h, d, width)
        g = q.new_zeros(b, h, d, width)
    gamma = decay_per_head(decay, h, q)
    outs = []
    for step in range(t):
        qt, kt, vt = qh[:, :, step], kh[:, :, step], va[:, :, step]  # [B, H, ·]
        c_prev = c
        if gamma is not None:
            s, c_prev, g = gamma * s, gamma * c, gamma * gamma * g
            c = c_prev
        s = s + kt.unsqueeze(-1) * kt.unsqueeze(-2)
        c = c + qt.unsqueeze(-1) * vt.unsqueeze(-2)
        g = g + kt.unsqueeze(-1) * (kt.unsqueeze(-2) @ c_prev)
        qs = qt.unsqueeze(-2) @ s  # [B, H, 1, D]
        outs.append((qs @ c - qt.unsqueeze(-2) @ g).squeeze(-2))
    out = torch.stack(outs, 2) if outs else q.new_zeros(b, h, 0, width)
    if not output_final_state:
        return finish(out, None, None, None, normalize, eps)
    return finish(out, s, c, g, normalize, eps)
