"""Reference tensor interaction: every prefix matrix ``M_t`` formed explicitly.

Causal, per batch and head: ``M_t = M_0 + Σ_{i ≤ t} q_i k_iᵀ`` for every ``t`` at once
(``[B, H, T, D, D]``, a cumulative sum of outer products), then
``o_t = v_t M_t M_tᵀ / max(‖M_t‖_F², eps)``. Written for clarity; memory ``O(T·D²)``. See
:mod:`prodint.ops.tensor_interaction.common` for the equations.
"""

from __future__ import annotations

from torch import Tensor

from prodint.ops.tensor_interaction.common import (
    TensorInteractionState,
    check_inputs,
    floor_guard,
    non_causal,
)


def tensor_interaction_naive(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                             eps: float = 1e-6,
                             initial_state: TensorInteractionState | None = None,
                             output_final_state: bool = False
                             ) -> tuple[Tensor, TensorInteractionState | None]:
    """Reference form; see :func:`prodint.ops.tensor_interaction.tensor_interaction`."""
    b, t, h, d = check_inputs(q, k, v, causal=causal, eps=eps, initial_state=initial_state,
                              output_final_state=output_final_state)
    qh, kh, vh = (x.transpose(1, 2) for x in (q, k, v))  # [B, H, T, D]
    if not causal:
        return non_causal(qh, kh, vh, eps).transpose(1, 2), None
    m = (qh.unsqueeze(-1) * kh.unsqueeze(-2)).cumsum(2)  # [B, H, T, D, D]
    m0 = q.new_zeros(b, h, d, d) if initial_state is None else initial_state.M
    m = m + m0.unsqueeze(2)
    u = ((vh.unsqueeze(-2) @ m) @ m.transpose(-1, -2)).squeeze(-2)
    out = u / floor_guard(m.pow(2).sum((-1, -2)), eps).unsqueeze(-1)
    if not output_final_state:
        return out.transpose(1, 2), None
    return out.transpose(1, 2), TensorInteractionState(m[:, :, -1] if t else m0)
