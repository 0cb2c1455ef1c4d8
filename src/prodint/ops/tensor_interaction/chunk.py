"""Chunked tensor interaction: parallel inside chunks, the state ``M`` carried across them.

Inside a chunk of length ``w`` with the entering state ``M`` and ``L`` the inclusive
lower-triangular mask and ``u_t = v_t M_t`` (the rows of ``U``;
:mod:`prodint.ops.tensor_interaction.common`)::

    v_t M_t    = v_t M + [(V Qᵀ) ⊙ L] K
    u_t M_tᵀ   = u_t Mᵀ + [(U Kᵀ) ⊙ L] Q
    ‖M_t‖_F²   = ‖M‖_F² + 2 Σ_{i ≤ t} q_iᵀ M k_i + Σ_{i, j ≤ t} (q_i·q_j)(k_i·k_j)

then ``M ← M + Q_cᵀ K_c``. Every step is a ``w × w`` or ``w × D`` matrix product; no
per-token ``D × D`` matrix is formed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.ops.checks import check_chunk_size
from prodint.ops.tensor_interaction.common import (
    TensorInteractionState,
    check_inputs,
    floor_guard,
    non_causal,
)


def tensor_interaction_chunk(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                             chunk_size: int = 64, eps: float = 1e-6,
                             initial_state: TensorInteractionState | None = None,
                             output_final_state: bool = False
                             ) -> tuple[Tensor, TensorInteractionState | None]:
    """Chunked form; see :func:`prodint.ops.tensor_interaction.tensor_interaction`."""
    b, t, h, d = check_inputs(q, k, v, causal=causal, eps=eps, initial_state=initial_state,
                              output_final_state=output_final_state)
    chunk_size = check_chunk_size(chunk_size)
    qh, kh, vh = (x.transpose(1, 2) for x in (q, k, v))  # [B, H, T, D]
    if not causal:
        return non_causal(qh, kh, vh, eps).transpose(1, 2), None
    m = q.new_zeros(b, h, d, d) if initial_state is None else initial_state.M
    outs = []
    for start in range(0, t, chunk_size):
        qc, kc, vc = (x[:, :, start:start + chunk_size] for x in (qh, kh, vh))
        n = qc.shape[2]
        lower = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        vm = vc @ m + ((vc @ qc.transpose(-1, -2)) * lower) @ kc  # v_t M_t
        u = vm @ m.transpose(-1, -2) + ((vm @ kc.transpose(-1, -2)) * lower) @ qc
        gram = (qc @ qc.transpose(-1, -2)) * (kc @ kc.transpose(-1, -2))  # (q_i·q_j)(k_i·k_j)
        strict = (gram * lower.tril(-1)).sum(-1)
        quad = (2 * strict + gram.diagonal(dim1=-2, dim2=-1)).cumsum(-1)
        linear = 2 * ((qc @ m) * kc).sum(-1).cumsum(-1)
        norm = m.pow(2).sum((-1, -2)).unsqueeze(-1) + linear + quad
        outs.append(u / floor_guard(norm, eps).unsqueeze(-1))
        m = m + qc.transpose(-1, -2) @ kc
    out = torch.cat(outs, 2) if outs else vh.new_zeros(vh.shape)
    return out.transpose(1, 2), (TensorInteractionState(m) if output_final_state else None)
