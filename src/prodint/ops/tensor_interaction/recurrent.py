"""Token-by-token tensor interaction: ``M_t = M_{t-1} + q_t k_tᵀ`` carried in ``O(d²)``.

Each step updates the state and computes ``(v_t M_t) M_tᵀ`` as two vector–matrix products
and ``‖M_t‖_F²`` from the state, so a step costs ``O(d²)`` whatever the position. Causal
only. See :mod:`prodint.ops.tensor_interaction.common` for the equations.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.ops.tensor_interaction.common import (
    TensorInteractionState,
    check_inputs,
    floor_guard,
)


def tensor_interaction_recurrent(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                                 eps: float = 1e-6,
                                 initial_state: TensorInteractionState | None = None,
                                 output_final_state: bool = False
                                 ) -> tuple[Tensor, TensorInteractionState | None]:
    """Streaming form; see :func:`prodint.ops.tensor_interaction.tensor_interaction`."""
    b, t, h, d = check_inputs(q, k, v, causal=causal, eps=eps, initial_state=initial_state,
                              output_final_state=output_final_state)
    if not causal:
        raise ValueError("causal: the recurrent form is causal, expected True")
    m = q.new_zeros(b, h, d, d) if initial_state is None else initial_state.M
    outs = []
    for step in range(t):
        qt, kt, vt = (x[:, step] for x in (q, k, v))  # [B, H, D]
        m = m + qt.unsqueeze(-1) * kt.unsqueeze(-2)
        u = ((vt.unsqueeze(-2) @ m) @ m.transpose(-1, -2)).squeeze(-2)
        outs.append(u / floor_guard(m.pow(2).sum((-1, -2)), eps).unsqueeze(-1))
    out = torch.stack(outs, 1) if outs else v.new_zeros(v.shape)
    return out, (TensorInteractionState(m) if output_final_state else None)
