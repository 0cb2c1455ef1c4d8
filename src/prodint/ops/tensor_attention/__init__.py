"""Second-order tensor attention (Deep Tensor Network) in three exact forms.

``tensor_attention(q, k, v, mode=...)`` with ``mode`` one of ``naive`` (the ``T × T``
definition, the reference), ``chunk`` (parallel within chunks, states across them) and
``recurrent`` (token by token, constant memory). The equations are in
:mod:`prodint.ops.tensor_attention.common`.
"""

from __future__ import annotations

from torch import Tensor

from prodint.ops.checks import check_chunk_size, check_mode
from prodint.ops.tensor_attention.chunk import tensor_attention_chunk
from prodint.ops.tensor_attention.common import MODES, TensorAttentionState, guard
from prodint.ops.tensor_attention.naive import tensor_attention_naive
from prodint.ops.tensor_attention.recurrent import tensor_attention_recurrent


def tensor_attention(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                     mode: str = "chunk", chunk_size: int = 64, normalize: bool = False,
                     decay: float | Tensor | None = None, eps: float = 1e-6,
                     initial_state: TensorAttentionState | None = None,
                     output_final_state: bool = False
                     ) -> tuple[Tensor, TensorAttentionState | None]:
    """Second-order tensor attention.

    Causal (default): ``o_t = Σ_{i ≤ j ≤ t} γ^{(t-i)+(t-j)} (q_t·k_i)(q_j·k_i) v_j``, with
    ``γ = decay`` (``None`` means 1; a float or a per-head ``[H]`` tensor in ``(0, 1]``).
    Non-causal: ``O = Q (KᵀK) (QᵀV)``. With ``normalize``, each output row is divided by the
    same sum with ``v = 1``, guarded as ``sign(n)·max(|n|, eps)`` because it may be negative.

    Args:
        q, k: ``[B, T, H, D]``, float32 or float64 (the sums over pairs of positions overflow
            half precision: :mod:`prodint.ops.checks`).
        v: ``[B, T, H, Dv]``, of the dtype and device of ``q``.
        causal: mask to ``i ≤ j ≤ t``.
        mode: ``"naive"``, ``"chunk"`` or ``"recurrent"`` (recurrent is causal only).
        chunk_size: chunk length of the chunked form.
        normalize, decay, eps: see above; ``eps`` is positive and finite in the dtype of
            ``q`` (at least its smallest normal number).
        initial_state: state carried from an earlier segment (causal only).
        output_final_state: also return the state after the last token.

    Returns:
        ``(o [B, T, H, Dv], final_state or None)``; rows without an element (``T = 0`` or
        ``B = 0``) give an empty output and the initial state.

    Raises:
        TypeError: an argument of the wrong kind or dtype (a non-tensor row, an integer or
            half-precision row, a non-bool flag, a non-int ``chunk_size``).
        ValueError: shapes or devices that do not match, an unknown ``mode``, a
            ``chunk_size`` below 1, ``decay`` outside ``(0, 1]``, ``eps`` out of range, or a
            streaming state without ``causal``.
    """
    check_mode(mode, MODES)
    check_chunk_size(chunk_size)  # checked in every mode, used by some
    if mode == "naive":
        return tensor_attention_naive(q, k, v, causal=causal, normalize=normalize, decay=decay,
                                      eps=eps, initial_state=initial_state,
                                      output_final_state=output_final_state)
    if mode == "recurrent":
        return tensor_attention_recurrent(q, k, v, causal=causal, normalize=normalize,
                                          decay=decay, eps=eps, initial_state=initial_state,
                                          output_final_state=output_final_state)
    return tensor_attention_chunk(q, k, v, causal=causal, chunk_size=chunk_size,
                                  normalize=normalize, decay=decay, eps=eps,
                                  initial_state=initial_state,
                                  output_final_state=output_final_state)


__all__ = [
    "TensorAttentionState",
    "guard",
    "tensor_attention",
    "tensor_attention_chunk",
    "tensor_attention_naive",
    "tensor_attention_recurrent",
]
