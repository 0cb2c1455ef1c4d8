"""Mamba's selective scan in three exact forms and a streaming step.

``selective_scan(x, delta, A, B, C, D, mode=...)`` with ``mode`` one of ``naive`` (a loop over
time written as the equations, the reference), ``chunk`` (masked matrix products inside
chunks of segment sums in log space, a short scan over chunk states across them) and
``recurrent`` (token by token with ``O(D·N)`` state and a backward that recomputes
checkpointed states); :func:`selective_scan_step` advances one token. All agree to float64
rounding in values, final states and every gradient. The equations, the layout (``[B, T, D]``,
per channel, and why) and the checks are in :mod:`prodint.ops.selective_scan.common`.
"""

from __future__ import annotations

from torch import Tensor

from prodint.ops.checks import check_chunk_size, check_mode
from prodint.ops.selective_scan.chunk import selective_scan_chunk
from prodint.ops.selective_scan.common import (
    MODES,
    SelectiveScanState,
    check_inputs,
    check_step_inputs,
)
from prodint.ops.selective_scan.naive import selective_scan_naive
from prodint.ops.selective_scan.recurrent import selective_scan_recurrent, selective_scan_step


def selective_scan(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                   D: Tensor | None = None, *, mode: str = "chunk", chunk_size: int = 64,
                   initial_state: SelectiveScanState | None = None,
                   output_final_state: bool = False
                   ) -> tuple[Tensor, SelectiveScanState | None]:
    """Mamba's selective state-space scan (equations in :mod:`~prodint.ops.selective_scan.common`).

    ``h_t = exp(Δ_t ⊗ A) ⊙ h_{t-1} + (Δ_t ⊙ x_t) ⊗ B_t``, ``y_t = h_t C_t + D ⊙ x_t``.

    Args:
        x: inputs ``[B, T, D]``.
        delta: step sizes ``Δ`` ``[B, T, D]`` (positive in Mamba: a softplus).
        A: ``[D, N]`` (negative in Mamba, so the state decays).
        B, C: input and output matrices ``[B, T, N]``, shared across channels.
        D: skip weights ``[D]`` or ``None``.
        mode: ``"naive"``, ``"chunk"`` or ``"recurrent"``.
        chunk_size: chunk length of ``chunk``; for ``recurrent`` the number of tokens between
            two states kept for the backward pass. Never changes the result.
        initial_state: the state carried from an earlier segment (zeros when ``None``).
        output_final_state: also return the state after the last token.

    Returns:
        ``(y [B, T, D], SelectiveScanState(h [B, D, N]) or None)``.

    Raises:
        TypeError: an argument of the wrong kind or dtype (tensors other than float32/float64
            or of different dtypes, a non-bool flag, a non-int ``chunk_size``).
        ValueError: shapes or devices that do not match, an unknown ``mode`` or a
            ``chunk_size`` below 1.

    >>> import torch
    >>> x = delta = torch.ones(1, 3, 2); A = -torch.ones(2, 1); B = C = torch.ones(1, 3, 1)
    >>> selective_scan(x, delta, A, B, C)[0][0, :, 0]
    tensor([1.0000, 1.3679, 1.5032])
    """
    check_mode(mode, MODES)
    check_chunk_size(chunk_size)  # checked in every mode, used by some
    if mode == "naive":
        return selective_scan_naive(x, delta, A, B, C, D, initial_state=initial_state,
                                    output_final_state=output_final_state)
    if mode == "recurrent":
        return selective_scan_recurrent(x, delta, A, B, C, D, chunk_size=chunk_size,
                                        initial_state=initial_state,
                                        output_final_state=output_final_state)
    return selective_scan_chunk(x, delta, A, B, C, D, chunk_size=chunk_size,
                                initial_state=initial_state,
                                output_final_state=output_final_state)


__all__ = [
    "MODES",
    "SelectiveScanState",
    "check_inputs",
    "check_step_inputs",
    "selective_scan",
    "selective_scan_chunk",
    "selective_scan_naive",
    "selective_scan_recurrent",
    "selective_scan_step",
]
