"""Tensor interaction (Deep Tensor Network) in three exact forms.

``tensor_interaction(q, k, v, mode=...)`` with ``mode`` one of ``naive`` (every prefix matrix
``M_t`` formed, the reference), ``chunk`` (parallel within chunks, the state across them) and
``recurrent`` (token by token, ``O(d²)`` state). The equations, the state and the guard are in
:mod:`prodint.ops.tensor_interaction.common`; the expression that states the same operator is
:func:`prodint.interaction.library.tensor_interaction_of`.
"""

from __future__ import annotations

from torch import Tensor

from prodint.ops.checks import check_chunk_size, check_mode
from prodint.ops.tensor_interaction.chunk import tensor_interaction_chunk
from prodint.ops.tensor_interaction.common import MODES, TensorInteractionState
from prodint.ops.tensor_interaction.naive import tensor_interaction_naive
from prodint.ops.tensor_interaction.recurrent import tensor_interaction_recurrent


def tensor_interaction(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                       mode: str = "chunk", chunk_size: int = 64, eps: float = 1e-6,
                       initial_state: TensorInteractionState | None = None,
                       output_final_state: bool = False
                       ) -> tuple[Tensor, TensorInteractionState | None]:
    """Tensor interaction: channel mixing by the data-dependent ``M = QᵀK``.

    Causal (default): ``o_t = v_t M_t M_tᵀ / max(‖M_t‖_F², eps)`` with
    ``M_t = M_0 + Σ_{i ≤ t} q_i k_iᵀ``; non-causal: ``O = V M Mᵀ / max(‖M‖_F², eps)``.

    Args:
        q, k, v: ``[B, T, H, D]`` (values have the width of queries and keys).
        causal: use the prefix ``M_t``.
        mode: ``"naive"``, ``"chunk"`` or ``"recurrent"`` (recurrent is causal only).
        chunk_size: chunk length of the chunked form.
        eps: floor of the squared norm (at least the smallest normal number of the dtype).
        initial_state: ``M_0`` carried from an earlier segment (causal only).
        output_final_state: also return the state after the last token.

    Returns:
        ``(o [B, T, H, D], final_state or None)``.

    Raises:
        TypeError: an argument of the wrong kind or dtype (rows other than float32/float64
            tensors, a non-bool flag, a non-int ``chunk_size``, a state of another type).
        ValueError: shapes or devices that do not match, an unknown ``mode``, a
            ``chunk_size`` below 1, ``eps`` not positive and finite in the rows' dtype, or a
            streaming state without ``causal``.
    """
    check_mode(mode, MODES)
    check_chunk_size(chunk_size)  # checked in every mode, used by some
    if mode == "naive":
        return tensor_interaction_naive(q, k, v, causal=causal, eps=eps,
                                        initial_state=initial_state,
                                        output_final_state=output_final_state)
    if mode == "recurrent":
        return tensor_interaction_recurrent(q, k, v, causal=causal, eps=eps,
                                            initial_state=initial_state,
                                            output_final_state=output_final_state)
    return tensor_interaction_chunk(q, k, v, causal=causal, chunk_size=chunk_size, eps=eps,
                                    initial_state=initial_state,
                                    output_final_state=output_final_state)


__all__ = [
    "TensorInteractionState",
    "tensor_interaction",
    "tensor_interaction_chunk",
    "tensor_interaction_naive",
    "tensor_interaction_recurrent",
]
