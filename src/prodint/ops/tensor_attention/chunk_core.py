"""The chunked core of tensor attention in the reduced state ``(S, M)``, with its backward.

``M_t = S_t C_t − G_t`` obeys ``M_t = γ² M_{t−1} + (S_t q_t) v_tᵀ`` and ``o_t = q_tᵀ M_t`` (the
recurrence of :mod:`prodint.ops.tensor_attention.common` substituted). Inside a chunk of
length ``w`` with local positions ``τ`` and entering states ``(S, M)``, ``y_τ = S_τ q_τ`` is::

    Y   = (γ^{τ+1} Q) Sᵀ + Ã K                  Ã = (Q Kᵀ) ⊙ γ^{τ-i} [i ≤ τ]     [w, D]
    O   = (γ^{2(τ+1)} Q) M + P V                P = (Q Yᵀ) ⊙ γ^{2(τ-j)} [j ≤ τ]  [w, W]
    S'  = γ^w S + (γ^{w-1-i} K)ᵀ K                                                 [D, D]
    M'  = γ^{2w} M + Yᵀ (γ^{2(w-1-j)} V)                                          [D, W]

so a chunk costs eight products of ``w × D``-sized blocks (``2w²D`` or ``2wD²`` FLOPs each,
:func:`prodint.ops.tensor_attention.chunk.chunk_flops`), batched over every chunk of every
head, and the entering states of all chunks come from two short scans over the chunks.
:func:`backward_segments` is the hand-derived backward, reusing the saved ``Ã, Y, P`` and
entering states (each of the size of ``Q`` when ``w = D``) instead of autograd's record of
every intermediate; :func:`chunk_core` alone is the differentiable form used when the decay
itself needs a gradient. Tensors are chunk-major, ``[N, B, H, w, ·]`` (strided views of the
rows ``[B, T, H, ·]``; a segment of chunks is a slice along ``N``) and every product is one
batched product over the ``N·B·H`` blocks (:mod:`~prodint.ops.tensor_attention.blas`);
states are ``[N, B, H, D, ·]`` (entering each chunk) and ``[B, H, D, ·]`` (after the last).

``S`` is symmetric (a sum of ``k kᵀ``, equal to its transpose up to rounding): when the state
entering the run is zero or exactly symmetric, ``Y``'s second term is taken as
``(γ^{τ+1} Q) S``. ``Q Sᵀ`` contracts both operands along their contiguous rows, and
single-threaded OpenBLAS ran such ``64 × 64`` products at about half the rate of ``Q S`` on the
2-core AMD EPYC this was developed on (31-39 against 55-68 GFLOP/s).

How it runs (on workers, with the backward) is :mod:`prodint.ops.tensor_attention.chunk_run`;
the forward of a call that needs no gradient, which keeps nothing and takes every product
in a faster form, is :mod:`prodint.ops.tensor_attention.chunk_infer`.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch
from torch import Tensor

from prodint.ops.tensor_attention.blas import TORCH, Products


class Weights(NamedTuple):
    """Decay weights of one chunk length, broadcasting over ``[N, B, H, w, ·]``."""

    lag: Tensor  # γ^{τ-i} [i ≤ τ], [H, w, w]
    lag2: Tensor  # γ^{2(τ-i)} [i ≤ τ]
    rise: Tensor  # γ^{τ+1}, [H, w, 1]
    rise2: Tensor  # γ^{2(τ+1)}
    end: Tensor  # γ^{w-1-i}
    end2: Tensor  # γ^{2(w-1-i)}
    step: Tensor  # γ^w, [H, 1, 1] (broadcasts over a state [B, H, D, ·])


def weights(gamma: Tensor | None, w: int) -> Weights | None:
    """The :class:`Weights` of ``γ`` (``[H]``) for chunks of length ``w``; ``None`` for
    ``γ = 1``."""
    if gamma is None:
        return None
    g = gamma.reshape(-1, 1, 1)
    tau = torch.arange(w, device=gamma.device)
    lag = tau[:, None] - tau[None, :]
    lag_w = torch.where(lag >= 0, g ** lag.clamp_min(0).to(gamma.dtype), torch.zeros_like(g))
    rise = g ** (tau + 1).to(gamma.dtype).reshape(w, 1)
    end = g ** (w - 1 - tau).to(gamma.dtype).reshape(w, 1)
    return Weights(lag_w, lag_w * lag_w, rise, rise * rise, end, end * end, g ** w)


def unpack(wt: Weights | None, like: Tensor) -> tuple[Tensor | None, ...]:
    """The fields of :class:`Weights`; for ``γ = 1`` the lower-triangular mask as both
    ``w × w`` weights and ``None`` (no weighting) for the others."""
    if wt is not None:
        return tuple(wt)
    w = like.shape[-2]
    lower = torch.ones(w, w, dtype=like.dtype, device=like.device).tril_()
    return (lower, lower, *(None,) * 5)


def scaled(x: Tensor, weight: Tensor | None) -> Tensor:
    return x if weight is None else x * weight


def _step(loc: Tensor, step: Tensor | None, state: Tensor) -> Tensor:
    """``loc + f·state``."""
    return loc + state if step is None else torch.addcmul(loc, step, state)


def scan(loc: Tensor, step: Tensor | None, start: Tensor | None, reverse: bool = False,
         out: Tensor | None = None, inplace: bool = True, ops: Products = TORCH
         ) -> tuple[Tensor, Tensor]:
    """The states between chunks of the recurrence ``X_{c+1} = f X_c + loc_c``.

    ``loc`` is ``[N, B, H, r, c]``, ``step`` the factor ``f`` (``[H, 1, 1]``, ``None`` for
    1), ``start`` ``X_0`` (``[B, H, r, c]``, ``None`` for zeros). Returns ``(entering, last)``:
    ``entering[c] = X_c`` and ``last = X_N``. With ``reverse`` the recurrence runs backwards
    (``X_N = start``, ``X_c = f X_{c+1} + loc_c``), ``entering[c]`` is ``X_{c+1}`` and
    ``last`` is ``X_0``: the adjoint of the forward scan. One pass over ``loc``, each state
    written in place into ``entering`` (into ``out`` when given) by ``ops.steps``;
    ``inplace=False``: stacked, for autograd.
    """
    order = list(range(loc.shape[0]))
    if reverse:
        order.reverse()
    if not inplace:
        states = [loc.new_zeros(loc.shape[1:]) if start is None else start]
        for c in order:
            states.append(_step(loc[c], step, states[-1]))
        entering = torch.stack(states[-2::-1] if reverse else states[:-1])
        return entering, states[-1]
    out = torch.empty_like(loc) if out is None else out
    if start is None:
        out[order[0]].zero_()
    else:
        out[order[0]].copy_(start)
    ops.steps(loc, step, out, order)
    return out, _step(loc[order[-1]], step, out[order[-1]])


class Saved(NamedTuple):
    """What the forward keeps for the backward, ``[N, B, H, ·, ·]`` each: ``Ã``, the entering
    ``S``, ``Y``, ``P`` and the entering ``M``."""

    a: Tensor
    s_c: Tensor
    y: Tensor
    p: Tensor
    m_c: Tensor


def segment(ops: Products, q: Tensor, k: Tensor, v: Tensor, s0: Tensor | None,
            m0: Tensor | None, wt: Weights | None, into: tuple[Tensor, Saved] | None,
            symmetric: bool = False) -> tuple[Tensor, Tensor, Tensor, Saved]:
    """The forward on one run of chunks; ``into`` holds the buffers to write (in place) or is
    ``None`` (new tensors, differentiable by autograd); ``symmetric``: the entering ``S`` are
    symmetric, ``Q Sᵀ`` is taken as ``Q S``."""
    inplace = into is not None
    out_buf, buf = into if into is not None else (None, Saved(*(None,) * 5))
    lag, lag2, rise, rise2, end, end2, f = unpack(wt, q)
    a = ops.mm(q, k.mT, buf.a, lag)
    s_c, s_n = scan(ops.mm(scaled(k, end).mT, k), f, s0, out=buf.s_c, inplace=inplace,
                    ops=ops)
    y = ops.addmm_(ops.mm(a, k, buf.y), scaled(q, rise), s_c if symmetric else s_c.mT)
    x = ops.mm(y.mT, scaled(v, end2))
    m_c, m_n = scan(x, None if f is None else f * f, m0, out=buf.m_c, inplace=inplace,
                    ops=ops)
    p = ops.mm(q, y.mT, buf.p, lag2)
    out = ops.addmm_(ops.mm(p, v, out_buf), scaled(q, rise2), m_c)
    return out, s_n, m_n, Saved(a, s_c, y, p, m_c)


def buffers(like: Tensor, width: int, chunks: int) -> Saved:
    """Empty :class:`Saved` tensors for ``chunks`` chunks of ``like`` (``[N, B, H, w, D]``)
    and values of ``width``."""
    b, h, w, d = like.shape[1:]
    return Saved(*(like.new_empty(chunks, b, h, *size) for size in
                   ((w, w), (d, d), (w, d), (w, w), (d, width))))


def chunk_core(q: Tensor, k: Tensor, v: Tensor, s0: Tensor | None, m0: Tensor | None,
               wt: Weights | None, per_segment: int, inplace: bool = False,
               ops: Products = TORCH) -> tuple[Tensor, Tensor, Tensor, list[Saved]]:
    """The forward of the chunked core (see the module docstring), in segments.

    Args:
        q, k: ``[N, B, H, w, D]``; v: ``[N, B, H, w, W]`` (any strides).
        s0, m0: the states entering the first chunk (``[B, H, D, D]``, ``[B, H, D, W]``) or
            ``None`` for zeros.
        wt: the decay weights (:func:`weights`), ``None`` for ``γ = 1``.
        per_segment: chunks per segment, the states carried from one to the next as between
            chunks. Each segment's tensors are allocated apart: blocks of about
            :data:`~prodint.ops.tensor_attention.chunk.SEGMENT_BYTES` are recycled by the
            allocator from call to call, where one block for the whole sequence would be a
            fresh ``mmap`` each time, its page faults costing as much as a product.
        inplace: write into preallocated outputs and weigh in place (not when autograd
            differentiates the decay).
        ops: the batched products (:mod:`~prodint.ops.tensor_attention.blas`).

    ``Q Sᵀ`` is taken as ``Q S`` when ``s0`` is ``None`` or symmetric (:func:`symmetric`) and,
    without ``inplace``, needs no gradient.

    Returns:
        ``(O [N, B, H, w, W], S_N, M_N, saved)``; with ``inplace``, ``O`` is a view of a
        contiguous ``[B, N, w, H, W]`` tensor (the layout of the rows, no copy to return it)
        and ``saved`` the :class:`Saved` tensors of each segment, else ``saved`` is empty.
    """
    n = q.shape[0]
    width = v.shape[-1]
    cuts = [*range(0, n, per_segment), n]
    # autograd would differentiate Q S as written, not Q Sᵀ: a given S that needs a gradient
    # keeps the transpose there (the hand-derived backward is that of Q Sᵀ either way)
    sym = symmetric(s0) and (inplace or s0 is None or not s0.requires_grad)
    if not inplace:
        outs = []
        for lo, hi in itertools.pairwise(cuts):
            o, s0, m0, _ = segment(ops, q[lo:hi], k[lo:hi], v[lo:hi], s0, m0, wt, None, sym)
            outs.append(o)
        assert s0 is not None and m0 is not None
        return torch.cat(outs), s0, m0, []
    out, saved = rows_layout(q, width), []
    for lo, hi in itertools.pairwise(cuts):
        part = buffers(q, width, hi - lo)
        _, s0, m0, _ = segment(ops, q[lo:hi], k[lo:hi], v[lo:hi], s0, m0, wt,
                               (out[lo:hi], part), sym)
        saved.append(part)
    assert s0 is not None and m0 is not None
    return out, s0, m0, saved


def symmetric(s0: Tensor | None) -> bool:
    """Whether the entering ``S`` of a run from ``s0`` are symmetric (up to the rounding of
    the sums of ``k kᵀ`` added to it): ``s0`` is ``None`` (zero) or exactly equal to its
    transpose."""
    return s0 is None or torch.equal(s0, s0.mT)


def rows_layout(like: Tensor, width: int) -> Tensor:
    """An empty ``[N, B, H, w, width]`` tensor stored as ``[B, N, w, H, width]`` (the rows'
    layout): outputs and gradients written there need no copy to reach ``[B, T, H, ·]``."""
    n, b, h, w = like.shape[:4]
    return like.new_empty(b, n, w, h, width).permute(1, 0, 3, 2, 4)


def _segment_backward(ops: Products, wt: Weights | None, q: Tensor, k: Tensor, v: Tensor,
                      saved: Saved, d_out: Tensor, d_sn: Tensor, d_mn: Tensor,
                      into: list[Tensor]) -> tuple[Tensor, Tensor]:
    """The backward of one run of chunks (the hand-derived backward of
    :class:`~prodint.ops.tensor_attention.chunk_run.ChunkCore`): writes ``dQ, dK, dV`` into
    ``into`` and returns the gradients of the states entering it."""
    a, s_c, y, p, m_c = saved
    dq, dk, dv = into
    lag, lag2, rise, rise2, end, end2, f = unpack(wt, q)
    dp = ops.mm(d_out, v.mT, None, lag2)
    dm_end, dm0 = scan(ops.mm(scaled(q, rise2).mT, d_out), None if f is None else f * f,
                       d_mn, reverse=True, ops=ops)
    if end2 is None:
        ops.addmm_(ops.mm(p.mT, d_out, dv), y, dm_end)
    else:  # the weight applies to the second term alone
        ops.mm(p.mT, d_out, dv).addcmul_(end2, ops.mm(y, dm_end))
    dy = ops.addmm_(ops.mm(dp.mT, q), scaled(v, end2), dm_end.mT)
    da = ops.mm(dy, k.mT, None, lag)
    ds_end, ds0 = scan(ops.mm(dy.mT, scaled(q, rise)), f, d_sn, reverse=True, ops=ops)
    ops.addmm_(ops.mm(dp, y, dq), da, k)
    if rise is None:
        ops.addmm_(ops.addmm_(dq, dy, s_c), d_out, m_c.mT)
    else:
        dq.addcmul_(rise, ops.mm(dy, s_c)).addcmul_(rise2, ops.mm(d_out, m_c.mT))
    ops.addmm_(ops.mm(a.mT, dy, dk), da.mT, q)
    ops.addmm_(dk, scaled(k, end), ds_end + ds_end.mT)
    return ds0, dm0


def backward_segments(ops: Products, wt: Weights | None, per_segment: int, q: Tensor,
                      k: Tensor, v: Tensor, saved: list[Saved], d_out: Tensor, d_sn: Tensor,
                      d_mn: Tensor, grads: list[Tensor]) -> tuple[Tensor, Tensor]:
    """The segments' backward, last first, the state gradients carried between them."""
    n = q.shape[0]
    cuts = [*range(0, n, per_segment), n]
    for (lo, hi), kept in reversed(list(zip(itertools.pairwise(cuts), saved, strict=True))):
        part = slice(lo, hi)
        d_sn, d_mn = _segment_backward(ops, wt, q[part], k[part], v[part], kept,
                                       d_out[part], d_sn, d_mn, [g[part] for g in grads])
    return d_sn, d_mn
