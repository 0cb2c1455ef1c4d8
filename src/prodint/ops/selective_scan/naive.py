"""The selective scan as a plain loop over time: the reference the fast forms are tested against.

Every per-step quantity is written out exactly as in the definition, so the code reads as the
equations do; it materialises the discretised ``Ā = exp(Δ A)`` and ``B̄ x = Δ x B`` for the
whole sequence (``[B, T, D, N]``) and lets autograd record every step.
"""

from __future__ import annotations

import torch
from torch import Tensor


def selective_scan_naive(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                         D: Tensor | None = None, *, initial_state: Tensor | None = None,
                         output_final_state: bool = False) -> tuple[Tensor, Tensor | None]:
    """``h_t = exp(Δ_t A) ⊙ h_{t-1} + (Δ_t ⊙ x_t) B_tᵀ``, ``y_t = h_t C_t + D ⊙ x_t``.

    Args:
        x, delta: ``[B, T, D]``.
        A: ``[D, N]``.
        B, C: ``[B, T, N]``.
        D: ``[D]`` or ``None``.
        initial_state: ``h_{-1}``, ``[B, D, N]`` (zeros when ``None``).
        output_final_state: also return ``h_{T-1}``.

    Returns:
        ``(y [B, T, D], h_{T-1} [B, D, N] or None)``.
    """
    batch, length, width = x.shape
    decay = torch.exp(delta.unsqueeze(-1) * A)  # Ā_t  [B, T, D, N]
    drive = (delta * x).unsqueeze(-1) * B.unsqueeze(2)  # B̄_t x_t  [B, T, D, N]
    h = (x.new_zeros(batch, width, A.shape[-1]) if initial_state is None
         else initial_state)
    ys = []
    for t in range(length):
        h = decay[:, t] * h + drive[:, t]
        ys.append((h * C[:, t].unsqueeze(1)).sum(-1))
    y = torch.stack(ys, dim=1) if ys else x.new_zeros(batch, 0, width)
    if D is not None:
        y = y + D * x
    return y, (h if output_final_state else None)
