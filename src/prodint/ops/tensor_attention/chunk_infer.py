"""The chunked forward of a call that needs no gradient: nothing kept, no product in the slow
form.

A forward whose intermediates no backward will read (under ``torch.no_grad``, or on inputs
that require no gradient) writes them into one :class:`Scratch` of a few chunks, reused
segment after segment, which stays in the cores' caches: the only tensor of the size of the
sequence it allocates is the output. It takes ``Ã`` and ``Y`` of
:mod:`prodint.ops.tensor_attention.chunk_core` transposed, from a transposed copy of each
segment's ``Q`` (``r = γ^{τ+1}``, ``r² = γ^{2(τ+1)}`` by row)::

    Ãᵀ = (K Qᵀ) ⊙ γ^{τ-i}[i ≤ τ]ᵀ                            [w, w]
    Yᵀ = Kᵀ Ãᵀ + S (r Q)ᵀ                                     [D, w]
    M' = γ^{2w} M + Yᵀ (γ^{2(w-1-j)} V)                       [D, W]
    P  = (Q Yᵀ) ⊙ γ^{2(τ-j)}[j ≤ τ],   O = P V + (r² Q) M      [w, W]

(``Yᵀ = S (rQ)ᵀ + Kᵀ Ãᵀ`` is the transpose of ``Y = (rQ) Sᵀ + Ã K`` for any entering
``S``), so that no product contracts two operands along their contiguous rows, as ``Q Kᵀ``
and ``Q Yᵀ`` do in the saving forward (single-threaded OpenBLAS ran those at about half the
rate of the others; the backward reads ``Ã`` and ``Y`` in their untransposed layout, so the
saving forward keeps it). The sums are the same as the saving forward's up to rounding.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

from torch import Tensor

from prodint.ops.tensor_attention.blas import Products
from prodint.ops.tensor_attention.chunk_core import Weights, scaled, scan, unpack


class Scratch(NamedTuple):
    """What one segment of chunks writes, ``[chunks, B, H, ·, ·]`` each, reused by the next."""

    qt: Tensor  # Qᵀ, then (rQ)ᵀ                          [D, w]
    at: Tensor  # Ãᵀ                                      [w, w]
    loc_s: Tensor  # (γ^{w-1-i} K)ᵀ K                     [D, D]
    s_c: Tensor  # entering S                             [D, D]
    yt: Tensor  # Yᵀ                                      [D, w]
    loc_m: Tensor  # Yᵀ (γ^{2(w-1-j)} V)                  [D, W]
    m_c: Tensor  # entering M                             [D, W]
    p: Tensor  # P                                        [w, w]


def scratch(like: Tensor, width: int, chunks: int) -> Scratch:
    """An empty :class:`Scratch` of ``chunks`` chunks for ``like`` (``[N, B, H, w, D]``) and
    values of ``width``."""
    b, h, w, d = like.shape[1:]
    sizes = ((d, w), (w, w), (d, d), (d, d), (d, w), (d, width), (d, width), (w, w))
    return Scratch(*(like.new_empty(chunks, b, h, *size) for size in sizes))


def _segment(ops: Products, q: Tensor, k: Tensor, v: Tensor, s0: Tensor | None,
             m0: Tensor | None, wt: Weights | None, out: Tensor, scr: Scratch
             ) -> tuple[Tensor, Tensor]:
    """One run of chunks (the module's formulas), its output written into ``out``; returns
    the states after its last chunk."""
    lag, lag2, rise, rise2, end, end2, f = unpack(wt, q)
    qt = scr.qt.copy_(q.mT)
    at = ops.mm(k, qt, scr.at, lag.mT)
    if rise is not None:
        qt.mul_(rise.mT)
    s_c, s_n = scan(ops.mm(scaled(k, end).mT, k, scr.loc_s), f, s0, out=scr.s_c, ops=ops)
    yt = ops.addmm_(ops.mm(k.mT, at, scr.yt), s_c, qt)
    m_c, m_n = scan(ops.mm(yt, scaled(v, end2), scr.loc_m), None if f is None else f * f, m0,
                    out=scr.m_c, ops=ops)
    p = ops.mm(q, yt, scr.p, lag2)
    ops.addmm_(ops.mm(p, v, out), scaled(q, rise2), m_c)
    return s_n, m_n


def infer(ops: Products, q: Tensor, k: Tensor, v: Tensor, s0: Tensor | None,
          m0: Tensor | None, wt: Weights | None, per_segment: int, out: Tensor,
          scr: Scratch) -> tuple[Tensor, Tensor]:
    """The forward of chunks ``[N, B, H, w, ·]`` (``q, k, v``, any strides) from the states
    ``s0, m0`` (``[B, H, D, ·]`` or ``None`` for zeros), in segments of ``per_segment``
    chunks through ``scr`` (at least that many chunks): the output is written into ``out``
    (``[N, B, H, w, W]``), the final ``(S_N, M_N)`` returned."""
    n = q.shape[0]
    s, m = s0, m0
    for lo, hi in itertools.pairwise([*range(0, n, per_segment), n]):
        part = Scratch(*(x[:hi - lo] for x in scr))
        s, m = _segment(ops, q[lo:hi], k[lo:hi], v[lo:hi], s, m, wt, out[lo:hi], part)
    assert s is not None and m is not None
    return s, m
