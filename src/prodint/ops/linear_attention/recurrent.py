"""Token-by-token linear attention with a ``D × Dv`` state, and the one-token step.

``S_t = S_{t-1} + k_t v_tᵀ``, ``o_t = q_tᵀ S_t`` (:mod:`prodint.ops.linear_attention.common`):
a step costs ``O(D·Dv)`` per head whatever the position. :func:`linear_attention_step` is one
such step, the streaming form a module's ``step`` uses; :func:`linear_attention_recurrent`
runs it over a sequence (autograd records every state, so it is the form for streaming and
short sequences, the chunked form the one for training).
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.ops.linear_attention.common import (
    LinearAttentionState,
    check_inputs,
    check_step_inputs,
)


def _advance(q_t: Tensor, k_t: Tensor, v_t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    """``(o_t, S_t)`` from ``S_{t-1}``; rows ``[B, H, ·]``, state ``[B, H, D, Dv]``."""
    s = s + k_t.unsqueeze(-1) * v_t.unsqueeze(-2)
    return (q_t.unsqueeze(-2) @ s).squeeze(-2), s


def linear_attention_step(q_t: Tensor, k_t: Tensor, v_t: Tensor,
                          state: LinearAttentionState | None = None
                          ) -> tuple[Tensor, LinearAttentionState]:
    """One token: ``S ← S + k_t v_tᵀ``, ``o_t = q_tᵀ S``.

    Args:
        q_t, k_t: ``[B, H, D]``.
        v_t: ``[B, H, Dv]``.
        state: the state before the token (zeros when ``None``).

    Returns:
        ``(o_t [B, H, Dv], LinearAttentionState(S [B, H, D, Dv]))``: feeding a sequence token
        by token gives :func:`~prodint.ops.linear_attention`'s outputs and final state.
    """
    b, h, d, dv = check_step_inputs(q_t, k_t, v_t, state)
    s = q_t.new_zeros(b, h, d, dv) if state is None else state.S
    o, s = _advance(q_t, k_t, v_t, s)
    return o, LinearAttentionState(s)


def linear_attention_recurrent(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                               initial_state: LinearAttentionState | None = None,
                               output_final_state: bool = False
                               ) -> tuple[Tensor, LinearAttentionState | None]:
    """Streaming form; see :func:`prodint.ops.linear_attention` for the contract."""
    if causal is not True:
        raise ValueError(f"causal: the recurrent form is causal, expected True, received "
                         f"{causal!r}")
    b, t, h, d, dv = check_inputs(q, k, v, causal=True, initial_state=initial_state,
                                  output_final_state=output_final_state)
    s = q.new_zeros(b, h, d, dv) if initial_state is None else initial_state.S
    outs = []
    for step in range(t):
        o, s = _advance(q[:, step], k[:, step], v[:, step], s)
        outs.append(o)
    o = torch.stack(outs, 1) if outs else q.new_zeros(b, 0, h, dv)
    return o, (LinearAttentionState(s) if output_final_state else None)
