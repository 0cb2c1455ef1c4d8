"""Second-order tensor attention (Deep Tensor Network) in three exact forms.

``tensor_attention(q, k, v, mode=...)`` with ``mode`` one of ``naive`` (the ``T × T``
definition, the reference), ``chunk`` (parallel within chunks, states across them) and
``recurrent`` (token by token, constant memory). The equations are in
:mod:`prodint.ops.tensor_attention.common`; the options the dispatcher adds around the forms
(``scale``, grouped value heads, half precision, packed sequences) in
:mod:`prodint.ops.tensor_attention.options`; the conversion of the state to and from
flash-linear-attention's ``recurrent_hla`` in :mod:`prodint.ops.tensor_attention.fla`.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor

from prodint.ops.checks import check_chunk_size, check_mode
from prodint.ops.tensor_attention.chunk import tensor_attention_chunk
from prodint.ops.tensor_attention.common import MODES, TensorAttentionState, guard
from prodint.ops.tensor_attention.fla import from_fla_state, to_fla_state
from prodint.ops.tensor_attention.naive import tensor_attention_naive
from prodint.ops.tensor_attention.options import (
    check_options,
    fold_state,
    run_packed,
    unfold_state,
)
from prodint.ops.tensor_attention.recurrent import tensor_attention_recurrent
from prodint.ops.tensor_attention.step import TensorAttentionStep

FORMS = {"naive": tensor_attention_naive, "chunk": tensor_attention_chunk,
         "recurrent": tensor_attention_recurrent}


def tensor_attention(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                     mode: str = "chunk", chunk_size: int = 64, normalize: bool = False,
                     decay: float | Tensor | None = None, eps: float = 1e-6,
                     scale: float | None = None,
                     initial_state: TensorAttentionState | None = None,
                     output_final_state: bool = False, cu_seqlens: Tensor | None = None
                     ) -> tuple[Tensor, TensorAttentionState | None]:
    """Second-order tensor attention.

    Causal (default): ``o_t = Σ_{i ≤ j ≤ t} γ^{(t-i)+(t-j)} (q_t·k_i)(q_j·k_i) v_j``, with
    ``γ = decay`` (``None`` means 1; a float or a per-head ``[H]`` tensor in ``(0, 1]``).
    Non-causal: ``O = Q (KᵀK) (QᵀV)``. With ``normalize``, each output row is divided by the
    same sum with ``v = 1``, guarded as ``sign(n)·max(|n|, eps)`` because it may be negative.
    The rows ``q`` are those after ``scale``: ``q ← scale·q``.

    Args:
        q, k: ``[B, T, H, D]``, float32 or float64, or float16/bfloat16 (computed in
            float32: the sums over pairs of positions overflow half precision; the output is
            cast back, the state stays float32).
        v: ``[B, T, HV, Dv]`` of the dtype and device of ``q``, ``HV = g·H`` value heads;
            value head ``h·g + r`` is read by query/key head ``h`` (flash-linear-attention's
            order). The ``g`` value heads of one query/key head are computed at once, as one
            value of width ``g·Dv``.
        causal: mask to ``i ≤ j ≤ t``.
        mode: ``"naive"``, ``"chunk"`` or ``"recurrent"`` (recurrent is causal only).
        chunk_size: chunk length of the chunked form.
        normalize, decay, eps: see above; ``eps`` is positive and finite in the dtype the
            forms compute in (at least its smallest normal number); ``decay`` is per
            query/key head.
        scale: multiplies ``q``. ``None`` (the default) means 1: the operator as defined.
            It enters twice (through ``q_t`` and ``q_j``), so the raw output scales by
            ``scale²``. flash-linear-attention's ``recurrent_hla`` defaults to ``D ** -0.5``:
            pass ``scale=D ** -0.5`` for its behaviour. Positive, with ``scale²`` finite in
            the compute dtype. Half-precision ``q`` is scaled after its cast to float32 (fla
            multiplies in the input dtype; both agree where ``scale·q`` is exact in it, as
            for a power-of-two scale).
        initial_state: state carried from an earlier segment (causal only), in the layout of
            :class:`TensorAttentionState` (``S, m, h`` per query/key head, ``C, G`` per value
            head), in the compute dtype (float32 for half-precision rows); one row per
            sequence ``[N, ...]`` with ``cu_seqlens``. fla's tuple converts with
            :func:`from_fla_state` (and back with :func:`to_fla_state`).
        output_final_state: also return the state after the last token (of each sequence).
        cu_seqlens: ``None`` or the cumulative lengths ``[N+1]`` (int32/int64, starting at
            0, non-decreasing, ending at ``T``) of ``N`` sequences packed in one batch row
            ``[1, T, ·, ·]`` (the FlashAttention convention); each sequence is attended on
            its own.

    Returns:
        ``(o [B, T, HV, Dv], final_state or None)`` (``o`` in the dtype of ``q``); rows
        without an element (``T = 0`` or ``B = 0``) give an empty output and the initial
        state.

    Raises:
        TypeError: an argument of the wrong kind or dtype (a non-tensor row, an integer row,
            a non-bool flag, a non-int ``chunk_size``, a non-number ``scale``, a non-integer
            ``cu_seqlens``).
        ValueError: shapes or devices that do not match (``HV`` not a multiple of ``H``), an
            unknown ``mode``, a ``chunk_size`` below 1, ``decay`` outside ``(0, 1]``,
            ``eps`` or ``scale`` out of range, a streaming state without ``causal``, or a
            ``cu_seqlens`` that does not describe the batch row.

    With every row equal to one, ``o_t = Σ_{i≤j≤t} 1 = t(t+1)/2`` (``t`` counted from 1):

    >>> import torch
    >>> q = k = v = torch.ones(1, 3, 1, 1)
    >>> tensor_attention(q, k, v)[0].flatten()
    tensor([1., 3., 6.])
    """
    mode = check_mode(mode, MODES)
    chunk_size = check_chunk_size(chunk_size)  # checked in every mode, used by some
    q, k, v, factor, plan = check_options(
        q, k, v, causal=causal, normalize=normalize, decay=decay, eps=eps, scale=scale,
        initial_state=initial_state, output_final_state=output_final_state,
        cu_seqlens=cu_seqlens)
    q, k, v = (x.to(plan.compute) for x in (q, k, v))
    if factor is not None:
        q = q * factor
    b, t, hv, dv = v.shape
    v = v.reshape(b, t, plan.heads, plan.groups * dv)  # fold the value heads into the width
    options = {"chunk_size": chunk_size} if mode == "chunk" else {}
    bound = partial(FORMS[mode], causal=causal, normalize=normalize, decay=decay, eps=eps,
                    output_final_state=output_final_state, **options)

    def form(q: Tensor, k: Tensor, v: Tensor, state: TensorAttentionState | None
             ) -> tuple[Tensor, TensorAttentionState | None]:
        return bound(q, k, v, initial_state=state)

    state = fold_state(initial_state, plan.groups, normalize)
    if plan.bounds is None:
        o, final = form(q, k, v, state)
    else:
        o, final = run_packed(form, q, k, v, plan.bounds, state)
    return o.reshape(b, t, hv, dv).to(plan.dtype), unfold_state(final, plan.groups)


__all__ = [
    "TensorAttentionState",
    "TensorAttentionStep",
    "from_fla_state",
    "guard",
    "tensor_attention",
    "tensor_attention_chunk",
    "tensor_attention_naive",
    "tensor_attention_recurrent",
    "to_fla_state",
]
