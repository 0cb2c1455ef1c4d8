"""Causal linear attention in three exact forms and a streaming step.

``linear_attention(q, k, v, mode=...)`` on ``[B, T, H, D]`` with ``mode`` one of ``naive``
(the masked ``T × T`` product, the reference), ``chunk`` (parallel within chunks, states
across them) and ``recurrent`` (token by token, a ``D × Dv`` state);
:func:`linear_attention_step` advances one token. The equations are in
:mod:`prodint.ops.linear_attention.common`.
"""

from __future__ import annotations

from torch import Tensor

from prodint.ops.checks import check_chunk_size, check_mode
from prodint.ops.linear_attention.chunk import linear_attention_chunk
from prodint.ops.linear_attention.common import MODES, LinearAttentionState
from prodint.ops.linear_attention.naive import linear_attention_naive
from prodint.ops.linear_attention.recurrent import (
    linear_attention_recurrent,
    linear_attention_step,
)


def linear_attention(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                     mode: str = "chunk", chunk_size: int = 64,
                     initial_state: LinearAttentionState | None = None,
                     output_final_state: bool = False
                     ) -> tuple[Tensor, LinearAttentionState | None]:
    """Linear attention ``o_t = Σ_{s ≤ t} (q_t·k_s) v_s`` (+ ``q_tᵀ S₀``).

    Args:
        q, k: ``[B, T, H, D]``.
        v: ``[B, T, H, Dv]``.
        causal: sum over ``s ≤ t`` (default); ``False`` sums over every ``s``,
            ``O = Q (Kᵀ V)``, and has no streaming state.
        mode: ``"naive"``, ``"chunk"`` or ``"recurrent"`` (recurrent is causal only).
        chunk_size: chunk length of the chunked form (never changes the result).
        initial_state: state ``S₀`` carried from an earlier segment (causal only).
        output_final_state: also return the state after the last token (causal only).

    Returns:
        ``(o [B, T, H, Dv], LinearAttentionState(S [B, H, D, Dv]) or None)``.

    Raises:
        TypeError: an argument of the wrong kind or dtype (rows other than float32/float64
            tensors, a non-bool flag, a non-int ``chunk_size``, a state of another type).
        ValueError: shapes or devices that do not match, an unknown ``mode``, a
            ``chunk_size`` below 1, or a streaming state without ``causal``.

    >>> import torch
    >>> q = k = v = torch.ones(1, 3, 1, 1)
    >>> linear_attention(q, k, v)[0].flatten()
    tensor([1., 2., 3.])
    """
    check_mode(mode, MODES)
    check_chunk_size(chunk_size)  # checked in every mode, used by some
    if mode == "naive":
        return linear_attention_naive(q, k, v, causal=causal, initial_state=initial_state,
                                      output_final_state=output_final_state)
    if mode == "recurrent":
        return linear_attention_recurrent(q, k, v, causal=causal, initial_state=initial_state,
                                          output_final_state=output_final_state)
    return linear_attention_chunk(q, k, v, causal=causal, chunk_size=chunk_size,
                                  initial_state=initial_state,
                                  output_final_state=output_final_state)


__all__ = [
    "MODES",
    "LinearAttentionState",
    "linear_attention",
    "linear_attention_chunk",
    "linear_attention_naive",
    "linear_attention_recurrent",
    "linear_attention_step",
]
