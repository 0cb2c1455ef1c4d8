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
from prodint.ops import checks

MODES = ("naive", "chunk", "recurrent")

__all__ = ["MODES", "TensorInteractionState", "check_inputs", "floor_guard", "non_causal"]


class TensorInteractionState(NamedTuple):
    """Streaming state per batch and head.

    Attributes:
        M: ``[B, H, D, D]``, ``M_t = M_0 + Σ_{i ≤ t} q_i k_iᵀ``.
    """

    M: Tensor


def check_inputs(q: Tensor, k: Tensor, v: Tensor, *, causal: bool, eps: float,
                 initial_state: TensorInteractionState | None, output_final_state: bool
                 ) -> tuple[int, int, int, int]:
    """Validate a form's arguments (the checks of :mod:`prodint.ops.checks`, values as wide
    as queries and keys, ``eps`` positive and finite in their dtype, a state ``M`` of
    ``[B, H, D, D]``); return ``B, T, H, D``.

    Raises:
        TypeError: a tensor, a flag or the state of the wrong kind or dtype.
        ValueError: a shape, a device or ``eps`` out of range, or a state without ``causal``.
    """
    checks.check_rows(("q", "k", "v"), (q, k, v), "[B, T, H, D]")
    if v.shape != q.shape:
        raise ValueError(f"v: expected the shape of q {tuple(q.shape)} (tensor interaction "
                         f"needs Dv = D), received {tuple(v.shape)}")
    checks.check_causal(causal)
    checks.check_streaming(causal, initial_state, output_final_state)
    checks.check_eps(eps, q.dtype)
    b, t, h, d = q.shape
    checks.check_state(initial_state, TensorInteractionState, "initial_state",
                       {"M": ("[B, H, D, D]", (b, h, d, d))}, q, "q")
    return b, t, h, d


def non_causal(q: Tensor, k: Tensor, v: Tensor, eps: float) -> Tensor:
    """``V M Mᵀ / max(‖M‖_F², eps)`` with ``M = QᵀK``, on ``[B, H, T, D]`` (one product chain,
    the same in every form)."""
    m = q.transpose(-1, -2) @ k
    norm = m.pow(2).sum((-1, -2), keepdim=True)
    return (v @ m @ m.transpose(-1, -2)) / floor_guard(norm, eps)
