"""Chunked tensor attention: parallel within chunks, states across them.

The sequence is cut into ``N`` chunks of length ``w`` (the last padded with zeros) and each
chunk is computed from the state entering it by a few batched matrix products, in the reduced
state ``(S, M)`` with ``M = S C − G`` (:mod:`prodint.ops.tensor_attention.chunk_core`, which
also holds the hand-derived backward). ``C`` is needed only for a returned state:
``C_T = γ^T C₀ + Qᵀ diag(γ^{T-1-j}) V`` is one product over the whole sequence, and
``G_T = S_T C_T − M_T``. Memory is ``O(T·(w + D) + N·D²)`` per head, forward and backward:
no per-token ``D × D`` state is ever formed. Long sequences run in segments of whole chunks
(:data:`SEGMENT_BYTES`), the states carried from one to the next exactly as between chunks.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.checks import check_bool, check_int
from prodint.ops.checks import check_chunk_size
from prodint.ops.tensor_attention.chunk_core import chunk_core, weights
from prodint.ops.tensor_attention.chunk_run import ChunkCore, chunk_forward
from prodint.ops.tensor_attention.common import (
    TensorAttentionState,
    augment,
    check_inputs,
    decay_per_head,
    finish,
)

#: Bytes of one per-chunk state stack (``[chunks, B, H, D, D]``) in one segment. Larger
#: blocks are served by fresh ``mmap``s whose page faults cost more than the arithmetic.
SEGMENT_BYTES = 1 << 23


def tensor_attention_chunk(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                           chunk_size: int = 64, normalize: bool = False,
                           decay: float | Tensor | None = None, eps: float = 1e-6,
                           initial_state: TensorAttentionState | None = None,
                           output_final_state: bool = False
                           ) -> tuple[Tensor, TensorAttentionState | None]:
    """Chunked form; see :func:`prodint.ops.tensor_attention` for the contract.

    Gradients of ``q, k, v`` and of the initial state come from the hand-derived backward
    of :class:`~prodint.ops.tensor_attention.chunk_run.ChunkCore`; a decay tensor that
    requires a gradient is differentiated by autograd through the same products. A call
    that needs no gradient keeps nothing
    (:func:`~prodint.ops.tensor_attention.chunk_run.chunk_forward`).
    """
    b, t, h, d, dv = check_inputs(q, k, v, causal=causal, normalize=normalize, decay=decay,
                                  eps=eps, initial_state=initial_state,
                                  output_final_state=output_final_state)
    chunk_size = check_chunk_size(chunk_size)
    if not q.numel():  # no token, batch, head or channel: nothing to sum
        return _empty(q, v, initial_state, normalize, output_final_state)
    va, s, c, g = augment(v, initial_state, normalize)  # [B, T, H, W]
    if not causal:
        qh, kh, vh = (x.transpose(1, 2) for x in (q, k, va))
        out = qh @ ((kh.transpose(-1, -2) @ kh) @ (qh.transpose(-1, -2) @ vh))
        return finish(out, None, None, None, normalize, eps)
    gamma = decay_per_head(decay, h, q)
    gamma = None if gamma is None else gamma.reshape(h)
    m = None if s is None else s @ c - g  # type: ignore[operator]
    tail = t % chunk_size
    # a padded last chunk would leave the state decayed by γ^pad (undone only by γ^-pad,
    # which overflows for a strong decay): with a returned state it runs on its own
    body = t - tail if decay is not None and output_final_state and tail and t > tail else t
    per_chunk = b * h * d * (max(d, dv) + 1) * q.element_size()
    outs = []
    for start, stop in ((0, body), (body, t)):
        if stop > start:
            part = slice(start, stop)
            o, s, m = _run(q[:, part], k[:, part], va[:, part], s, m, gamma,
                           min(chunk_size, stop - start), max(1, SEGMENT_BYTES // per_chunk))
            outs.append(o)
    out = outs[0] if len(outs) == 1 else torch.cat(outs, 1)
    if not output_final_state:
        return finish(out.transpose(1, 2), None, None, None, normalize, eps)
    assert s is not None and m is not None
    c = _final_c(q, va, c, gamma)
    return finish(out.transpose(1, 2), s, c, s @ c - m, normalize, eps)


def _run(q: Tensor, k: Tensor, va: Tensor, s: Tensor | None, m: Tensor | None,
         gamma: Tensor | None, w: int, per_segment: int
         ) -> tuple[Tensor, Tensor, Tensor]:
    """Rows ``[B, t, H, ·]`` in chunks of ``w`` from the entering ``(S, M)``, in segments of
    ``per_segment`` chunks: ``(O [B, t, H, W], S, M)``. The padded tokens of a last partial
    chunk add nothing (the caller keeps them away from a returned state when a decay would
    age it)."""
    b, t, h = q.shape[:3]
    n = -(-t // w)
    qc, kc, vc = (_chunked(x, n, w) for x in (q, k, va))  # [N, B, H, w, ·]
    wt = weights(gamma, w)
    leaves = (q, k, va, s, m, gamma)
    if not torch.is_grad_enabled() or not any(x is not None and x.requires_grad
                                              for x in leaves):
        out, s, m = chunk_forward(qc, kc, vc, s, m, wt)
    elif gamma is not None and gamma.requires_grad:
        out, s, m, _ = chunk_core(qc, kc, vc, s, m, wt, per_segment)
    else:
        out, s, m = ChunkCore.apply(qc, kc, vc, s, m, wt, per_segment)
    return out.permute(1, 0, 3, 2, 4).reshape(b, n * w, h, -1)[:, :t], s, m


def _chunked(x: Tensor, n: int, w: int) -> Tensor:
    """Rows ``[B, t, H, F]`` as chunks ``[N, B, H, w, F]``: a strided view, zero-padded to
    ``N·w`` rows first when ``t`` falls short."""
    b, t, h, f = x.shape
    if n * w > t:
        x = torch.nn.functional.pad(x, (0, 0, 0, 0, 0, n * w - t))
    return x.reshape(b, n, w, h, f).permute(1, 0, 3, 2, 4)


def _final_c(q: Tensor, va: Tensor, c: Tensor | None, gamma: Tensor | None) -> Tensor:
    """``C_T = γ^T C₀ + Qᵀ diag(γ^{T-1-j}) V`` from rows ``[B, T, H, ·]``: ``[B, H, D, W]``."""
    t = q.shape[1]
    qh, vh = q.transpose(1, 2), va.transpose(1, 2)
    if gamma is None:
        local = qh.transpose(-1, -2) @ vh
        return local if c is None else c + local
    g = gamma.reshape(-1, 1, 1)
    to_end = g ** torch.arange(t - 1, -1, -1, device=q.device).to(q.dtype).reshape(t, 1)
    local = qh.transpose(-1, -2) @ (to_end * vh)
    return local if c is None else g ** t * c + local


def _empty(q: Tensor, v: Tensor, state: TensorAttentionState | None, normalize: bool,
           output_final_state: bool) -> tuple[Tensor, TensorAttentionState | None]:
    """The result on rows without an element: zeros ``[B, T, H, Dv]`` and the state
    unchanged (zeros when none is given)."""
    b, t, h, d = q.shape
    dv = v.shape[-1]
    o = q.new_zeros(b, t, h, dv)
    if not output_final_state:
        return o, None
    if state is None:
        state = TensorAttentionState(q.new_zeros(b, h, d, d), q.new_zeros(b, h, d, dv),
                                     q.new_zeros(b, h, d, dv))
        if normalize:
            state = state._replace(m=q.new_zeros(b, h, d), h=q.new_zeros(b, h, d))
    return o, state if normalize else TensorAttentionState(state.S, state.C, state.G)


def chunk_flops(b: int, t: int, h: int, d: int, dv: int, chunk: int, *,
                normalize: bool = False, decay: bool = False,
                backward: bool = False) -> dict[str, int]:
    """Floating-point operations of each term of the causal chunked form, by name.

    With ``w = min(chunk, t)``, ``N = ⌈t / w⌉`` chunks (padded ones computed too) and value
    width ``W = dv + normalize``, each of the ``N·B·H`` chunks runs the eight products of
    :mod:`~prodint.ops.tensor_attention.chunk_core` (``2mnk`` FLOPs for an ``m × k`` by
    ``k × n`` product) and its two scans (``D² + D·W`` additions per chunk, twice that as
    multiply-adds with a decay); a decay adds the weighting of the two ``w × w`` blocks and of
    the rows of ``Q`` (twice), ``K`` and ``V``. ``backward=True`` counts the terms of the
    backward instead (its fifteen products and two reverse scans; a decay adds the same
    weighting). The returned state's ``C`` and ``G`` (``O(T·D·W + D²·W)``) are left out.

    Raises:
        TypeError: a size that is not an int, a flag that is not a bool.
        ValueError: ``t``, ``chunk`` below 1 or another size below 0.
    """
    b, h, d, dv = (check_int(x, name, minimum=0) for x, name in
                   ((b, "b"), (h, "h"), (d, "d"), (dv, "dv")))
    t, chunk = check_int(t, "t", minimum=1), check_int(chunk, "chunk", minimum=1)
    normalize, decay, backward = (check_bool(x, name) for x, name in
                                  ((normalize, "normalize"), (decay, "decay"),
                                   (backward, "backward")))
    w = min(chunk, t)
    blocks = -(-t // w) * b * h
    width = dv + normalize
    square, wide, state, vals = w * w * d, w * d * d, w * d * width, w * w * width
    if backward:
        terms = {"dP = dO Vᵀ": vals, "dV += Pᵀ dO": vals, "dM = Qᵀ dO": state,
                 "dV += Y dM'": state, "dY = dPᵀ Q": square, "dY += V dM'ᵀ": state,
                 "dÃ = dY Kᵀ": square, "dS = Qᵀ dY": wide, "dQ = dP Y": square,
                 "dQ += dÃ K": square, "dQ += dY Sᵀ": wide, "dQ += dO Mᵀ": state,
                 "dK = Ãᵀ dY": square, "dK += dÃᵀ Q": square, "dK += K dS'": wide}
    else:
        terms = {"Ã = Q Kᵀ": square, "S_loc = Kᵀ K": wide, "Y = Ã K": square,
                 "Y += Q S": wide, "M_loc = Yᵀ V": state, "P = Q Yᵀ": square, "O = P V": vals,
                 "O += Q M": state}
    out = {name: 2 * blocks * size for name, size in terms.items()}
    out["scans"] = blocks * (d * d + d * width) * (2 if decay else 1)
    if decay:
        out["decay weights"] = blocks * (2 * w * w + w * (3 * d + width))
    return out
