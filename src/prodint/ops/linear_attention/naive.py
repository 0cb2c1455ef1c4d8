"""Reference linear attention: the masked ``T × T`` product, written for clarity.

Per batch and head, ``O = [(Q Kᵀ) ⊙ L] V + Q S₀`` (``L`` the inclusive lower triangle, left
out when non-causal) and the final state ``S₀ + Kᵀ V`` summed from its definition; the
equations are in :mod:`prodint.ops.linear_attention.common`.
"""

from __future__ import annotations

from torch import Tensor

from prodint.ops.linear_attention.common import LinearAttentionState, check_inputs


def linear_attention_naive(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                           initial_state: LinearAttentionState | None = None,
                           output_final_state: bool = False
                           ) -> tuple[Tensor, LinearAttentionState | None]:
    """Reference form; see :func:`prodint.ops.linear_attention` for the contract."""
    check_inputs(q, k, v, causal=causal, initial_state=initial_state,
                 output_final_state=output_final_state)
    qh, kh, vh = (x.transpose(1, 2) for x in (q, k, v))  # [B, H, T, ·]
    scores = qh @ kh.transpose(-1, -2)  # q_t·k_s  [B, H, T, T]
    if causal:
        scores = scores.tril()
    o = scores @ vh
    if initial_state is not None:
        o = o + qh @ initial_state.S
    if not output_final_state:
        return o.transpose(1, 2), None
    final = kh.transpose(-1, -2) @ vh
    if initial_state is not None:
        final = final + initial_state.S
    return o.transpose(1, 2), LinearAttentionState(final)
