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

MODES = ("naive", "chunk", "recurrent")


class LinearAttentionState(NamedTuple):
    """Streaming state per batch and head.

    Attributes:
        S: ``[B, H, D, Dv]``, ``S₀ + Σ_{s ≤ t} k_s v_sᵀ``.
    """

    S: Tensor


def _check_rows(names: tuple[str, str, str], tensors: tuple[object, object, object],
                layout: str) -> tuple[Tensor, Tensor, Tensor]:
    """Same rank, ``q`` and ``k`` of one shape, ``v`` sharing the leading dims, one dtype."""
    rank = layout.count(",") + 1
    for name, x in zip(names, tensors, strict=True):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor {layout}, received "
                            f"{type(x).__name__}")
        if x.dim() != rank:
            raise ValueError(f"{name}: expected {layout}, received shape {tuple(x.shape)}")
    q, k, v = tensors  # type: ignore[misc]
    if q.shape != k.shape:
        raise ValueError(f"{names[1]}: expected the shape of {names[0]} {tuple(q.shape)}, "
                         f"received {tuple(k.shape)}")
    if v.shape[:-1] != q.shape[:-1]:
        raise ValueError(f"{names[2]}: expected leading dims {tuple(q.shape[:-1])} (those of "
                         f"{names[0]}), received shape {tuple(v.shape)}")
    if not (q.dtype == k.dtype == v.dtype) or not q.dtype.is_floating_point:
        raise TypeError(f"{', '.join(names)}: expected one floating dtype, received "
                        f"{q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"{', '.join(names)}: expected one device, received {q.device}, "
                         f"{k.device}, {v.device}")
    return q, k, v


def check_state(state: object, b: int, h: int, d: int, dv: int, like: Tensor,
                argument: str) -> None:
    """Raise unless ``state`` is ``None`` or a :class:`LinearAttentionState` matching the rows."""
    if state is None:
        return
    if not isinstance(state, LinearAttentionState):
        raise TypeError(f"{argument}: expected a LinearAttentionState, received "
                        f"{type(state).__name__}")
    s = state.S
    if not isinstance(s, Tensor):
        raise TypeError(f"{argument}.S: expected a torch.Tensor, received {type(s).__name__}")
    if tuple(s.shape) != (b, h, d, dv):
        raise ValueError(f"{argument}.S: expected shape [B, H, D, Dv] = {[b, h, d, dv]}, "
                         f"received {tuple(s.shape)}")
    if s.dtype != like.dtype or s.device != like.device:
        raise ValueError(f"{argument}.S: expected dtype {like.dtype} on {like.device} (those "
                         f"of q), received {s.dtype} on {s.device}")


def check_inputs(q: Tensor, k: Tensor, v: Tensor, *, causal: bool,
                 initial_state: LinearAttentionState | None, output_final_state: bool
                 ) -> tuple[int, int, int, int, int]:
    """Validate a sequence's arguments; return ``B, T, H, D, Dv``."""
    q, k, v = _check_rows(("q", "k", "v"), (q, k, v), "[B, T, H, D]")
    if not isinstance(causal, bool):
        raise TypeError(f"causal: expected a bool, received {type(causal).__name__}")
    if not causal and (initial_state is not None or output_final_state):
        raise ValueError("initial_state/output_final_state: expected causal=True for a "
                         "streaming state, received causal=False")
    b, t, h, d = q.shape
    dv = v.shape[-1]
    check_state(initial_state, b, h, d, dv, q, "initial_state")
    return b, t, h, d, dv


def check_step_inputs(q_t: Tensor, k_t: Tensor, v_t: Tensor,
                      state: LinearAttentionState | None) -> tuple[int, int, int, int]:
    """Validate one token's arguments (``q_t, k_t: [B, H, D]``, ``v_t: [B, H, Dv]``); return
    ``B, H, D, Dv``."""
    q_t, k_t, v_t = _check_rows(("q_t", "k_t", "v_t"), (q_t, k_t, v_t), "[B, H, D]")
    b, h, d = q_t.shape
    dv = v_t.shape[-1]
    check_state(state, b, h, d, dv, q_t, "state")
    return b, h, d, dv


def check_chunk_size(chunk_size: object) -> int:
    """``chunk_size`` as a positive int, or a ``ValueError`` naming it."""
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive int, received {chunk_size!r}")
    return chunk_size
