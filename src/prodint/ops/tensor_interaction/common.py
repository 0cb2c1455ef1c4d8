"""Shared definitions of tensor interaction: the equations, the state, the checks, the guard.

Tensor interaction (Deep Tensor Network) mixes the channels of each value by a
data-dependent ``d × d`` matrix. Per batch and head, rows ``q_t, k_t, v_t ∈ R^d`` (values
have the width of queries and keys), layout ``[B, T, H, D]``::

    non-causal:  o_t = v_t M Mᵀ / ‖M‖_F²,        M = Qᵀ K = Σ_s q_s k_sᵀ
    causal:      o_t = v_t M_t M_tᵀ / ‖M_t‖_F²,  M_t = M_0 + Σ_{i ≤ t} q_i k_iᵀ

``M_0`` is the initial state (zeros by default). Streaming form: ``M_t = M_{t-1} + q_t k_tᵀ``,
an ``O(d²)`` state and an ``O(d²)`` update per token, no ``T × T`` matrix. Chunked form over
chunks of length ``w`` with the entering state ``M``, ``L`` the inclusive lower-triangular
mask and ``u_t = v_t M_t`` (the rows of ``U``)::

    v_t M_t    = v_t M + [(V Qᵀ) ⊙ L] K
    u_t M_tᵀ   = u_t Mᵀ + [(U Kᵀ) ⊙ L] Q
    ‖M_t‖_F²   = ‖M‖_F² + 2 Σ_{i ≤ t} q_iᵀ M k_i + Σ_{i, j ≤ t} (q_i·q_j)(k_i·k_j)

The denominator is a squared norm, non-negative; it is *guarded* by ``max(·, eps)``
(:func:`~prodint.interaction.normalize.floor_guard`, the guard the expression
:func:`~prodint.interaction.library.tensor_interaction_of` states), so a zero ``M_t`` gives a
zero output instead of NaN.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from prodint.interaction.normalize import floor_guard

MODES = ("naive", "chunk", "recurrent")

__all__ = ["MODES", "TensorInteractionState", "check_inputs", "check_state", "floor_guard",
           "non_causal"]


class TensorInteractionState(NamedTuple):
    """Streaming state per batch and head.

    Attributes:
        M: ``[B, H, D, D]``, ``M_t = M_0 + Σ_{i ≤ t} q_i k_iᵀ``.
    """

    M: Tensor


def check_inputs(q: Tensor, k: Tensor, v: Tensor, mode: str, causal: bool
                 ) -> tuple[int, int, int, int]:
    """Validate shapes, dtypes and options; return ``B, T, H, D``."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, received {type(x).__name__}")
        if x.dim() != 4:
            raise ValueError(f"{name}: expected [B, T, H, D], received shape {tuple(x.shape)}")
    if k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"k, v: expected the shape of q {tuple(q.shape)} (tensor interaction "
                         f"needs Dv = D), received {tuple(k.shape)}, {tuple(v.shape)}")
    if not (q.dtype == k.dtype == v.dtype) or not q.dtype.is_floating_point:
        raise TypeError(f"q, k, v: expected one floating dtype, received {q.dtype}, {k.dtype}, "
                        f"{v.dtype}")
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, received {mode!r}")
    if not isinstance(causal, bool):
        raise TypeError(f"causal: expected a bool, received {type(causal).__name__}")
    b, t, h, d = q.shape
    return b, t, h, d


def check_state(state: TensorInteractionState | None, b: int, h: int, d: int, causal: bool,
                output_final_state: bool) -> None:
    """Validate an ``initial_state`` (and that a state is asked of a causal form only)."""
    if not causal and (state is not None or output_final_state):
        raise ValueError("initial_state/output_final_state: expected causal=True for a "
                         "streaming state")
    if state is None:
        return
    if not isinstance(state, TensorInteractionState):
        raise TypeError(f"initial_state: expected a TensorInteractionState, received "
                        f"{type(state).__name__}")
    if not isinstance(state.M, Tensor) or tuple(state.M.shape) != (b, h, d, d):
        got = tuple(state.M.shape) if isinstance(state.M, Tensor) else type(state.M).__name__
        raise ValueError(f"initial_state.M: expected shape {(b, h, d, d)}, received {got}")


def non_causal(q: Tensor, k: Tensor, v: Tensor, eps: float) -> Tensor:
    """``V M Mᵀ / max(‖M‖_F², eps)`` with ``M = QᵀK``, on ``[B, H, T, D]`` (one product chain,
    the same in every form)."""
    m = q.transpose(-1, -2) @ k
    norm = m.pow(2).sum((-1, -2), keepdim=True)
    return (v @ m @ m.transpose(-1, -2)) / floor_guard(norm, eps)
