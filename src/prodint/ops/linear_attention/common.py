"""Shared definitions of linear attention: the equations, the state, the argument checks.

Per batch and head, rows ``q_t, k_t ∈ R^D`` and ``v_t ∈ R^{Dv}`` (layout ``[B, T, H, D]``),
and an optional state ``S₀ ∈ R^{D×Dv}`` carried from an earlier segment. Causal::

    o_t = Σ_{s ≤ t} (q_t·k_s) v_s + q_tᵀ S₀

(order 3 when ``q, k, v`` are linear in the signal: no softmax, no feature map, no scale;
those belong to the caller's projections). Without the softmax the ``T × T`` matrix
factorises, so the same sum streams with a ``D × Dv`` state::

    S_t = S_{t-1} + k_t v_tᵀ,    S_{-1} = S₀,    o_t = q_tᵀ S_t.

Chunked, with chunks of ``w`` tokens, ``L`` the inclusive lower triangle and ``S`` the state
entering the chunk: ``O_c = Q_c S + [(Q_c K_cᵀ) ⊙ L] V_c``, ``S ← S + K_cᵀ V_c``.
Non-causal: ``O = Q (Kᵀ V)`` (no order in time, hence no streaming state).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from prodint.ops import checks
from prodint.ops.checks import check_chunk_size

__all__ = ["MODES", "LinearAttentionState", "check_chunk_size", "check_inputs", "check_state",
           "check_step_inputs"]

MODES = ("naive", "chunk", "recurrent")


class LinearAttentionState(NamedTuple):
    """Streaming state per batch and head.

    Attributes:
        S: ``[B, H, D, Dv]``, ``S₀ + Σ_{s ≤ t} k_s v_sᵀ``.
    """

    S: Tensor


def check_state(state: object, b: int, h: int, d: int, dv: int, like: Tensor,
                argument: str, rows: str) -> None:
    """Raise unless ``state`` (named ``argument``) is ``None`` or a
    :class:`LinearAttentionState` matching the rows (named ``rows``)."""
    checks.check_state(state, LinearAttentionState, argument,
                       {"S": ("[B, H, D, Dv]", (b, h, d, dv))}, like, rows)


def check_inputs(q: Tensor, k: Tensor, v: Tensor, *, causal: bool,
                 initial_state: LinearAttentionState | None, output_final_state: bool
                 ) -> tuple[int, int, int, int, int]:
    """Validate a sequence's arguments; return ``B, T, H, D, Dv``."""
    q, k, v = checks.check_rows(("q", "k", "v"), (q, k, v), "[B, T, H, D]")
    checks.check_causal(causal)
    checks.check_streaming(causal, initial_state, output_final_state)
    b, t, h, d = q.shape
    dv = v.shape[-1]
    check_state(initial_state, b, h, d, dv, q, "initial_state", "q, v")
    return b, t, h, d, dv


def check_step_inputs(q_t: Tensor, k_t: Tensor, v_t: Tensor,
                      state: LinearAttentionState | None) -> tuple[int, int, int, int]:
    """Validate one token's arguments (``q_t, k_t: [B, H, D]``, ``v_t: [B, H, Dv]``); return
    ``B, H, D, Dv``."""
    q_t, k_t, v_t = checks.check_rows(("q_t", "k_t", "v_t"), (q_t, k_t, v_t), "[B, H, D]")
    b, h, d = q_t.shape
    dv = v_t.shape[-1]
    check_state(state, b, h, d, dv, q_t, "state", "q_t, v_t")
    return b, h, d, dv
