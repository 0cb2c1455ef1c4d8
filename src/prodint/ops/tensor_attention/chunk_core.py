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
:class:`ChunkCore` runs it with a hand-derived backward that reuses the saved ``Ã, Y, P`` and
entering states (each of the size of ``Q`` when ``w = D``) instead of autograd's record of
every intermediate; :func:`chunk_core` alone is the differentiable form used when the decay
itself needs a gradient. Tensors are chunk-major, ``[N, B, H, w, ·]`` (a run of chunks is a
contiguous slice and every product one ``bmm`` over ``N·B·H`` blocks), states
``[N, B, H, D, ·]`` (entering each chunk) and ``[B, H, D, ·]`` (after the last).
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import torch
from torch import Tensor

from prodint.ops.tensor_attention.blas import TORCH, Products, products_for, region


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


def _flat(x: Tensor) -> Tensor:
    """``[N, B, H, r, c]`` as ``[N·B·H, r, c]`` (a view of a contiguous tensor or of its
    transpose)."""
    return x.reshape(-1, x.shape[-2], x.shape[-1])


def _bmm(ops: Products, x: Tensor, y: Tensor) -> Tensor:
    """``x @ y`` over ``[N, B, H, ·, ·]`` as one batched product (transposed views are not
    copied)."""
    return ops.mm(_flat(x), _flat(y)).view(*x.shape[:-1], y.shape[-1])


def _addmm_(ops: Products, acc: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """``acc += x @ y`` in place over ``[N, B, H, ·, ·]``."""
    ops.addmm_(_flat(acc), _flat(x), _flat(y))
    return acc


def _weigh(x: Tensor, weight: Tensor | None, inplace: bool) -> Tensor:
    """``x ⊙ weight`` for a ``[w, w]`` block; without a weight the lower triangle."""
    if weight is None:
        return x.tril_() if inplace else x.tril()
    return x.mul_(weight) if inplace else x * weight


def _scaled(x: Tensor, weight: Tensor | None) -> Tensor:
    return x if weight is None else x * weight


def _step(loc: Tensor, step: Tensor | None, state: Tensor, out: Tensor | None) -> Tensor:
    """``loc + f·state`` (into ``out`` when given)."""
    if step is None:
        return loc + state if out is None else torch.add(loc, state, out=out)
    return torch.addcmul(loc, step, state) if out is None else \
        torch.addcmul(loc, step, state, out=out)


def scan(loc: Tensor, step: Tensor | None, start: Tensor | None, reverse: bool = False,
         inplace: bool = True) -> tuple[Tensor, Tensor]:
    """The states between chunks of the recurrence ``X_{c+1} = f X_c + loc_c``.

    ``loc`` is ``[N, B, H, r, c]``, ``step`` the factor ``f`` (``[H, 1, 1]``, ``None`` for
    1), ``start`` ``X_0`` (``[B, H, r, c]``, ``None`` for zeros). Returns ``(entering, last)``:
    ``entering[c] = X_c`` and ``last = X_N``. With ``reverse`` the recurrence runs backwards
    (``X_N = start``, ``X_c = f X_{c+1} + loc_c``), ``entering[c]`` is ``X_{c+1}`` and
    ``last`` is ``X_0``: the adjoint of the forward scan. One pass over ``loc``, each state
    written in place into ``entering`` (``inplace=False``: stacked, for autograd).
    """
    order = list(range(loc.shape[0]))
    if reverse:
        order.reverse()
    if not inplace:
        states = [loc.new_zeros(loc.shape[1:]) if start is None else start]
        for c in order:
            states.append(_step(loc[c], step, states[-1], None))
        entering = torch.stack(states[-2::-1] if reverse else states[:-1])
        return entering, states[-1]
    out = torch.empty_like(loc)
    if start is None:
        out[order[0]].zero_()
    else:
        out[order[0]].copy_(start)
    for c, nxt in itertools.pairwise(order):
        _step(loc[c], step, out[c], out[nxt])
    return out, _step(loc[order[-1]], step, out[order[-1]], None)


def chunk_core(q: Tensor, k: Tensor, v: Tensor, s0: Tensor | None, m0: Tensor | None,
               wt: Weights | None, inplace: bool = False, ops: Products = TORCH
               ) -> tuple[Tensor, Tensor, Tensor, tuple[Tensor, ...]]:
    """The forward of the chunked core (see the module docstring).

    Args:
        q, k: ``[N, B, H, w, D]``; v: ``[N, B, H, w, W]`` (contiguous).
        s0, m0: the states entering the first chunk (``[B, H, D, D]``, ``[B, H, D, W]``) or
            ``None`` for zeros.
        wt: the decay weights (:func:`weights`), ``None`` for ``γ = 1``.
        inplace: weigh the ``[w, w]`` blocks and write the scanned states in place (not when
            autograd differentiates the decay).
        ops: the batched products (:mod:`~prodint.ops.tensor_attention.blas`).

    Returns:
        ``(O [N, B, H, w, W], S_N, M_N, saved)`` with ``saved = (Ã, S_c, Y, P, M_c)``.
    """
    a = _weigh(_bmm(ops, q, k.mT), None if wt is None else wt.lag, inplace)
    s_loc = _bmm(ops, _scaled(k, None if wt is None else wt.end).mT, k)
    s_c, s_n = scan(s_loc, None if wt is None else wt.step, s0, inplace=inplace)
    y = _addmm_(ops, _bmm(ops, a, k), _scaled(q, None if wt is None else wt.rise), s_c.mT)
    x = _bmm(ops, y.mT, _scaled(v, None if wt is None else wt.end2))
    m_c, m_n = scan(x, None if wt is None else wt.step * wt.step, m0, inplace=inplace)
    p = _weigh(_bmm(ops, q, y.mT), None if wt is None else wt.lag2, inplace)
    out = _addmm_(ops, _bmm(ops, p, v), _scaled(q, None if wt is None else wt.rise2), m_c)
    return out, s_n, m_n, (a, s_c, y, p, m_c)


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
                m0: Tensor | None, wt: Weights | None) -> tuple[Tensor, Tensor, Tensor]:
        ops = products_for(q)
        with region(ops):
            out, s_n, m_n, saved = chunk_core(q, k, v, s0, m0, wt, inplace=True, ops=ops)
        ctx.wt, ctx.ops = wt, ops
        ctx.starts = (s0 is not None, m0 is not None)
        ctx.save_for_backward(q, k, v, *saved)
        return out, s_n, m_n

    @staticmethod
    def backward(ctx: Any, d_out: Tensor, d_sn: Tensor, d_mn: Tensor
                 ) -> tuple[Tensor | None, ...]:
        with region(ctx.ops):
            return ChunkCore._backward(ctx, d_out, d_sn, d_mn)

    @staticmethod
    def _backward(ctx: Any, d_out: Tensor, d_sn: Tensor, d_mn: Tensor
                  ) -> tuple[Tensor | None, ...]:
        q, k, v, a, s_c, y, p, m_c = ctx.saved_tensors
        ops: Products = ctx.ops
        wt: Weights | None = ctx.wt
        lag, lag2, rise, rise2, end, end2, f = wt if wt is not None else (None,) * 7
        d_out = d_out.contiguous()
        dp = _weigh(_bmm(ops, d_out, v.mT), lag2, True)
        dm_end, dm0 = scan(_bmm(ops, _scaled(q, rise2).mT, d_out),
                           None if f is None else f * f, d_mn, reverse=True)
        if end2 is None:
            dv = _addmm_(ops, _bmm(ops, p.mT, d_out), y, dm_end)
        else:  # the weight applies to the second term alone
            dv = _bmm(ops, p.mT, d_out).addcmul_(end2, _bmm(ops, y, dm_end))
        dy = _addmm_(ops, _bmm(ops, dp.mT, q), _scaled(v, end2), dm_end.mT)
        da = _weigh(_bmm(ops, dy, k.mT), lag, True)
        ds_end, ds0 = scan(_bmm(ops, dy.mT, _scaled(q, rise)), f, d_sn, reverse=True)
        dq = _addmm_(ops, _bmm(ops, dp, y), da, k)
        if rise is None:
            _addmm_(ops, _addmm_(ops, dq, dy, s_c), d_out, m_c.mT)
        else:
            dq.addcmul_(rise, _bmm(ops, dy, s_c)).addcmul_(rise2, _bmm(ops, d_out, m_c.mT))
        dk = _addmm_(ops, _bmm(ops, a.mT, dy), da.mT, q)
        _addmm_(ops, dk, _scaled(k, end), ds_end + ds_end.mT)
        has_s0, has_m0 = ctx.starts
        return dq, dk, dv, ds0 if has_s0 else None, dm0 if has_m0 else None, None
