"""The selective scan as a plain loop over time: the reference the fast forms are tested against.

Every per-step quantity is written out exactly as in the definition
(:mod:`prodint.ops.selective_scan.common`), so the code reads as the equations do; it
materialises the discretised ``Ā = exp(Δ A)`` and ``B̄ x = Δ x B`` for the whole sequence
(``[B, T, D, N]``) and lets autograd record every step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.ops.selective_scan.common import SelectiveScanState, check_inputs


def selective_scan_naive(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                         D: Tensor | None = None, *,
                         initial_state: SelectiveScanState | None = None,
                         output_final_state: bool = False
                         ) -> tuple[Tensor, SelectiveScanState | None]:
    """``h_t = exp(Δ_t A) ⊙ h_{t-1} + (Δ_t ⊙ x_t) B_tᵀ``, ``y_t = h_t C_t + D ⊙ x_t``.

    Args:
        x, delta: ``[B, T, D]``.
        A: ``[D, N]``.
        B, C: ``[B, T, N]``.
        D: ``[D]`` or ``None``.
        initial_state: ``h_{-1}`` (zeros when ``None``).
        output_final_state: also return the state after the last token.

    Returns:
        ``(y [B, T, D], SelectiveScanState(h [B, D, N]) or None)``.
    """
    batch, length, width, size = check_inputs(x, delta, A, B, C, D, initial_state,
                                           output_final_state=output_final_state)
    decay = torch.exp(delta.unsqueeze(-1) * A)  # Ā_t  [B, T, D, N]
    drive = (delta * x).unsqueeze(-1) * B.unsqueeze(2)  # B̄_t x_t  [B, T, D, N]
    h = x.new_zeros(batch, width, size) if initial_state is None else initial_state.h
    ys = []
    for t in range(length):
        h = decay[:, t] * h + drive[:, t]
        ys.append((h * C[:, t].unsqueeze(1)).sum(-1))
    y = torch.stack(ys, dim=1) if ys else x.new_zeros(batch, 0, width)
    if D is not None:
        y = y + D * x
    return y, (SelectiveScanState(h) if output_final_state else None)
