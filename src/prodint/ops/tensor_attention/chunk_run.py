"""How the chunked core runs: with its hand-derived backward, on several workers, or without
keeping anything for a call that needs no gradient.

:class:`ChunkCore` is the autograd function of the chunked core
(:mod:`prodint.ops.tensor_attention.chunk_core`): its forward keeps each segment's ``Ã, Y, P``
and entering states, its backward is
:func:`~prodint.ops.tensor_attention.chunk_core.backward_segments`. :func:`chunk_forward` is
the forward of a call that needs no gradient (under ``torch.no_grad`` or on inputs that do
not require one, :mod:`prodint.ops.tensor_attention.chunk_infer`): nothing is kept, every
segment writes its intermediates into the same scratch, of :data:`SCRATCH_BYTES` per state
stack, and the output is the one tensor of the size of the sequence it allocates.

On the CPU's BLAS with several workers, the heads (or, with fewer heads than workers, the
batch rows) are shared out (:func:`head_groups`): each worker runs the whole forward or
backward of its own heads, every product on its thread, writing into its slices of the
common buffers. A head never reads another, so the sums are those of sharing each product
between the workers, without a wait between products; measured at T = 16k (B = 1, H = 8,
D = 64, float32) on 2 cores, the forward took 116 against 134 ms (median of 40 alternating
calls) and forward+backward 354-402 against 449-474 ms.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import torch
from torch import Tensor

from prodint.ops.tensor_attention.blas import (
    BLAS,
    SERIAL_BLAS,
    products_for,
    region,
    share,
    workers,
)
from prodint.ops.tensor_attention.chunk_core import (
    Saved,
    Weights,
    backward_segments,
    buffers,
    chunk_core,
    rows_layout,
    segment,
    symmetric,
)
from prodint.ops.tensor_attention.chunk_infer import Scratch, infer, scratch

#: Bytes of one per-chunk state stack (``[chunks, B, H, D, max(D, W)]``) of the scratch a call
#: without gradient reuses from segment to segment (about ten stacks of that size, 4 chunks at
#: B = 1, H = 8, D = 64 in float32: 2.5 MiB, half per worker). At T = 16k on 2 cores the
#: forward took (median of 24 alternating calls) 97 / 83 / 89 / 98 / 108 ms with stacks of
#: 2 / 4 / 8 / 16 / 32 chunks: smaller segments cost more calls, larger ones leave the cache.
SCRATCH_BYTES = 1 << 19


class ChunkCore(torch.autograd.Function):
    """:func:`chunk_core` with a hand-derived backward for ``q, k, v, s0, m0`` (the decay is
    a constant here).

    Backward, per chunk, with ``dO`` and the gradients of ``S_N, M_N`` entering the reverse
    scans (``dS'``, ``dM'`` are the gradients of the states leaving the chunk)::

        dP = (dO Vᵀ) ⊙ γ^{2(τ-j)}[j≤τ]      dM = (γ^{2(τ+1)} Q)ᵀ dO + γ^{2w} dM'
        dV = Pᵀ dO + γ^{2(w-1-j)} (Y dM')
        dY = dPᵀ Q + (γ^{2(w-1-j)} V) dM'ᵀ
        dÃ = (dY Kᵀ) ⊙ γ^{τ-i}[i≤τ]          dS = dYᵀ (γ^{τ+1} Q) + γ^w dS'
        dQ = dP Y + dÃ K + γ^{τ+1} (dY S) + γ^{2(τ+1)} (dO Mᵀ)
        dK = Ãᵀ dY + dÃᵀ Q + (γ^{w-1-i} K)(dS' + dS'ᵀ)
    """

    @staticmethod
    def forward(ctx: Any, q: Tensor, k: Tensor, v: Tensor, s0: Tensor | None,
                m0: Tensor | None, wt: Weights | None, per_segment: int
                ) -> tuple[Tensor, Tensor, Tensor]:
        out, s_n, m_n, saved = _forward(q, k, v, s0, m0, wt, per_segment)
        ctx.wt, ctx.ops, ctx.per_segment = wt, products_for(q), per_segment
        ctx.starts = (s0 is not None, m0 is not None)
        ctx.save_for_backward(q, k, v, *(x for part in saved for x in part))
        return out, s_n, m_n

    @staticmethod
    def backward(ctx: Any, d_out: Tensor, d_sn: Tensor, d_mn: Tensor
                 ) -> tuple[Tensor | None, ...]:
        q, k, v, *kept = ctx.saved_tensors
        fields = len(Saved._fields)
        saved = [Saved(*kept[i:i + fields]) for i in range(0, len(kept), fields)]
        d_out = d_out.permute(1, 0, 3, 2, 4).contiguous().permute(1, 0, 3, 2, 4)
        grads = [rows_layout(x, x.shape[-1]) for x in (q, k, v)]
        with region(ctx.ops):
            groups = head_groups(q.shape[1], q.shape[2], workers(ctx.ops))
            if groups is None:
                d_sn, d_mn = backward_segments(ctx.ops, ctx.wt, ctx.per_segment, q, k, v,
                                               saved, d_out, d_sn, d_mn, grads)
            else:
                d_sn, d_mn = _shared_backward(ctx.wt, ctx.per_segment, q, k, v, saved, d_out,
                                              d_sn, d_mn, grads, groups)
        has_s0, has_m0 = ctx.starts
        return (*grads, d_sn if has_s0 else None, d_mn if has_m0 else None, None, None)


def chunk_forward(q: Tensor, k: Tensor, v: Tensor, s0: Tensor | None, m0: Tensor | None,
                  wt: Weights | None) -> tuple[Tensor, Tensor, Tensor]:
    """The forward of a call that needs no gradient
    (:func:`~prodint.ops.tensor_attention.chunk_infer.infer`): ``(O, S_N, M_N)`` as
    :func:`~prodint.ops.tensor_attention.chunk_core.chunk_core` returns them in place (same
    shapes and layout), nothing kept, through one scratch of :func:`scratch_segment` chunks.
    On the CPU's BLAS it runs on numpy's arrays, the heads shared out between the workers as
    in :class:`ChunkCore`; elsewhere on torch's."""
    n, b, h, _, d = q.shape
    width = v.shape[-1]
    per_segment = scratch_segment(q, width)
    out = rows_layout(q, width)
    scr = scratch(q, width, min(per_segment, n), wt is not None)
    s_n = q.new_zeros(b, h, d, d) if s0 is None else s0.detach().clone()
    m_n = q.new_zeros(b, h, d, width) if m0 is None else m0.detach().clone()
    ops = products_for(q)
    if ops is not BLAS:
        infer(torch, q, k, v, s_n, m_n, wt, per_segment, out, scr)
        return out, s_n, m_n
    q, k, v = (x.detach() for x in (q, k, v))
    with region(ops):
        groups = head_groups(b, h, workers(ops)) or [(slice(None), slice(None))]

        def run(group: Group) -> None:
            arrays = [_part(x, group, 1).numpy() for x in (q, k, v, out)]  # type: ignore
            weights = _weights_of(wt, group)
            infer(np, *arrays[:3], s_n[group].numpy(), m_n[group].numpy(),
                  None if weights is None else Weights(*(x.detach().numpy() for x in weights)),
                  per_segment, arrays[3], Scratch(*(_part(x, group, 1).numpy()  # type: ignore
                                                    for x in scr)))

        if len(groups) == 1:
            run(groups[0])
        else:
            share([functools.partial(run, g) for g in groups])
    return out, s_n, m_n


def scratch_segment(q: Tensor, width: int) -> int:
    """Chunks per segment of :func:`chunk_forward`: one ``[chunks, B, H, D, max(D, width)]``
    stack of :data:`SCRATCH_BYTES` (at least one chunk)."""
    b, h, _, d = q.shape[1:]
    return max(1, SCRATCH_BYTES // (b * h * d * max(d, width) * q.element_size()))


def _forward(q: Tensor, k: Tensor, v: Tensor, s0: Tensor | None, m0: Tensor | None,
             wt: Weights | None, per_segment: int) -> tuple[Tensor, Tensor, Tensor, list[Saved]]:
    """The saving forward in place on the products of ``q``'s device, the heads shared out
    between the workers when they divide (:func:`head_groups`)."""
    ops = products_for(q)
    with region(ops):
        groups = head_groups(q.shape[1], q.shape[2], workers(ops))
        if groups is None:
            return chunk_core(q, k, v, s0, m0, wt, per_segment, True, ops)
        return _shared_forward(q, k, v, s0, m0, wt, per_segment, groups)


Group = tuple[slice, slice]


def head_groups(b: int, h: int, count: int) -> list[Group] | None:
    """The ``(batch, head)`` slices of one share per worker: ``count`` runs of heads when
    there are as many heads, else of the batch; ``None`` when neither divides (or one
    worker), and the products are shared out one by one instead.

    Every head is independent of the others through the whole chunked form (its products,
    its scans), so a worker that runs every product of its own heads in turn needs no
    synchronization until the end, where sharing each product waits for both workers
    between products (about twenty times per segment, forward and backward)."""
    if count < 2:
        return None
    size = h if h >= count else b if b >= count else 0
    if not size:
        return None
    cuts = [size * i // count for i in range(count + 1)]
    runs = [slice(lo, hi) for lo, hi in itertools.pairwise(cuts)]
    return [(slice(None), r) for r in runs] if h >= count else [(r, slice(None)) for r in runs]


def _weights_of(wt: Weights | None, group: Group) -> Weights | None:
    """The decay weights of a group's heads (every field leads with the heads)."""
    return None if wt is None else Weights(*(x[group[1]] for x in wt))


def _part(x: Tensor | None, group: Group, lead: int) -> Tensor | None:
    """``x[..., batch, head, ...]`` with ``lead`` dimensions before the batch."""
    return None if x is None else x[(slice(None),) * lead + group]


def _shared_forward(q: Tensor, k: Tensor, v: Tensor, s0: Tensor | None, m0: Tensor | None,
                    wt: Weights | None, per_segment: int, groups: list[Group]
                    ) -> tuple[Tensor, Tensor, Tensor, list[Saved]]:
    """:func:`chunk_core` (in place) with each group of heads on its own worker, every
    product on one thread: the same sums, written into the same buffers."""
    n = q.shape[0]
    cuts = [*range(0, n, per_segment), n]
    out = rows_layout(q, v.shape[-1])
    saved = [buffers(q, v.shape[-1], hi - lo) for lo, hi in itertools.pairwise(cuts)]
    sym = symmetric(s0)

    def run(group: Group) -> tuple[Tensor, Tensor]:
        qg, kg, vg, og = (_part(x, group, 1) for x in (q, k, v, out))
        s, m, wg = _part(s0, group, 0), _part(m0, group, 0), _weights_of(wt, group)
        for (lo, hi), part in zip(itertools.pairwise(cuts), saved, strict=True):
            into = (og[lo:hi], Saved(*(_part(x, group, 1) for x in part)))  # type: ignore
            _, s, m, _ = segment(SERIAL_BLAS, qg[lo:hi], kg[lo:hi], vg[lo:hi], s, m,  # type: ignore
                                 wg, into, sym)
        assert s is not None and m is not None
        return s, m

    s_n, m_n = _gather(q, v, groups, share([functools.partial(run, g) for g in groups]))
    return out, s_n, m_n, saved


def _gather(q: Tensor, v: Tensor, groups: list[Group], states: list[tuple[Tensor, Tensor]]
            ) -> tuple[Tensor, Tensor]:
    """The final ``(S, M)`` of every head (``[B, H, D, ·]``) from those of each group."""
    b, h, d = q.shape[1], q.shape[2], q.shape[-1]
    s_n, m_n = q.new_empty(b, h, d, d), q.new_empty(b, h, d, v.shape[-1])
    for group, (s, m) in zip(groups, states, strict=True):
        s_n[group].copy_(s)
        m_n[group].copy_(m)
    return s_n, m_n


def _shared_backward(wt: Weights | None, per_segment: int, q: Tensor, k: Tensor, v: Tensor,
                     saved: list[Saved], d_out: Tensor, d_sn: Tensor, d_mn: Tensor,
                     grads: list[Tensor], groups: list[Group]) -> tuple[Tensor, Tensor]:
    """:func:`~prodint.ops.tensor_attention.chunk_core.backward_segments` with each group of
    heads on its own worker (as :func:`_shared_forward`)."""
    d_s0, d_m0 = torch.empty_like(d_sn), torch.empty_like(d_mn)

    def run(group: Group) -> None:
        kept = [Saved(*(_part(x, group, 1) for x in part)) for part in saved]  # type: ignore
        ds, dm = backward_segments(SERIAL_BLAS, _weights_of(wt, group), per_segment,
                                   *(_part(x, group, 1) for x in (q, k, v)),  # type: ignore
                                   kept, _part(d_out, group, 1),  # type: ignore
                                   d_sn[group], d_mn[group],
                                   [_part(g, group, 1) for g in grads])  # type: ignore
        d_s0[group].copy_(ds)
        d_m0[group].copy_(dm)

    share([functools.partial(run, g) for g in groups])
    return d_s0, d_m0
