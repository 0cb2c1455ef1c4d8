"""The chunked forward of a call that needs no gradient: nothing kept, no product in the slow
form, the intermediates in the cores' caches.

A forward whose intermediates no backward will read (under ``torch.no_grad``, or on inputs
that require no gradient) writes them into one :class:`Scratch` of a few chunks, reused
segment after segment: small enough to stay in a core's cache, and the only tensor of the
size of the sequence is the output. It takes ``Ã`` and ``Y`` of
:mod:`prodint.ops.tensor_attention.chunk_core` transposed, from a transposed copy of each
segment's ``Q`` (``r = γ^{τ+1}``, ``r² = γ^{2(τ+1)}`` by row)::

    Ãᵀ = (K Qᵀ) ⊙ γ^{τ-i}[i ≤ τ]ᵀ                            [w, w]
    Yᵀ = Kᵀ Ãᵀ + S (r Q)ᵀ                                     [D, w]
    M' = γ^{2w} M + Yᵀ (γ^{2(w-1-j)} V)                       [D, W]
    P  = (Q Yᵀ) ⊙ γ^{2(τ-j)}[j ≤ τ],   O = P V + (r² Q) M      [w, W]

(``Yᵀ = S (rQ)ᵀ + Kᵀ Ãᵀ`` is the transpose of ``Y = (rQ) Sᵀ + Ã K`` for any entering
``S``), so that no product contracts two operands along their contiguous rows, as ``Q Kᵀ``
and ``Q Yᵀ`` do in the saving forward (single-threaded OpenBLAS ran those at about half the
rate of the others; the backward reads ``Ã`` and ``Y`` untransposed, so the saving forward
keeps that layout). The sums are the saving forward's up to rounding.

:func:`infer` is written once for two array libraries (``xp``): numpy, whose calls on a
few ``64 × 64`` blocks cost microseconds where torch's cost tens (the CPU's BLAS path, each
worker on its own heads: small segments that stay in cache are then cheap), and torch (the
path of other devices and dtypes).

Measured at T = 16k (B = 1, H = 8, D = 64, float32) on the 2-core AMD EPYC this was
developed on, 40 calls of each in alternation in one process: the saving forward (segments
of 63 chunks, new tensors for each) took 168 ms (median; 114 at best), this one 80 ms (69),
0.74 of the rate of a 2048³ matmul timed between them (145 GFLOP/s). One worker alone on 4
heads of the same sequence took 74-78 ms: once their intermediates stay in cache, the two
workers lose little to each other.
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from prodint.ops.tensor_attention.chunk_core import Weights


class Scratch(NamedTuple):
    """What one segment of chunks writes, ``[chunks, B, H, ·, ·]`` each, reused by the next
    (numpy arrays or tensors)."""

    qt: Any  # Qᵀ, then (rQ)ᵀ                          [D, w]
    at: Any  # Ãᵀ                                      [w, w]
    loc_s: Any  # (γ^{w-1-i} K)ᵀ K                     [D, D]
    s_c: Any  # entering S                             [D, D]
    yt: Any  # Yᵀ                                      [D, w]
    term: Any  # its second term S (rQ)ᵀ                [D, w]
    loc_m: Any  # Yᵀ (γ^{2(w-1-j)} V)                  [D, W]
    m_c: Any  # entering M                             [D, W]
    p: Any  # P                                        [w, w]
    rows: Any  # a product of rows of the output       [w, W]
    weighed: Any  # γ-weighted rows of K, V or Q        [w, max(D, W)] (with a decay)


def scratch(like: Tensor, width: int, chunks: int, decay: bool) -> Scratch:
    """An empty :class:`Scratch` of ``chunks`` chunks for ``like`` (``[N, B, H, w, D]``) and
    values of ``width`` (``weighed`` empty without a decay)."""
    b, h, w, d = like.shape[1:]
    sizes = ((d, w), (w, w), (d, d), (d, d), (d, w), (d, w), (d, width), (d, width), (w, w),
             (w, width), (w, max(d, width)) if decay else (0, 0))
    return Scratch(*(like.new_empty(chunks, b, h, *size) for size in sizes))


def _mT(x: Any) -> Any:
    return x.swapaxes(-1, -2)


def _steps(xp: Any, loc: Any, f: Any, state: Any, entering: Any) -> None:
    """``entering[c] = X_c`` and ``state = X_z`` for ``X_{c+1} = f X_c + loc_c`` from
    ``X_0 = state`` (``f``: ``[H, 1, 1]`` or ``None`` for 1), in place."""
    entering[0] = state
    for c in range(loc.shape[0]):
        dst = entering[c + 1] if c + 1 < loc.shape[0] else state
        if f is None:
            xp.add(entering[c], loc[c], out=dst)
        else:
            xp.multiply(entering[c], f, out=dst)
            xp.add(dst, loc[c], out=dst)


def _weighed(xp: Any, x: Any, weight: Any, buf: Any) -> Any:
    """``x ⊙ weight`` into ``buf`` (``x`` itself for ``weight = None``)."""
    if weight is None:
        return x
    out = buf[..., :x.shape[-1]]
    xp.multiply(x, weight, out=out)
    return out


def _segment(xp: Any, q: Any, k: Any, v: Any, s: Any, m: Any, wt: Weights | None,
             out: Any, scr: Scratch, lower: Any) -> None:
    """One run of chunks (the module's formulas): its output into ``out``, the states ``s,
    m`` (entering it) advanced past it in place."""
    lag, lag2, rise, rise2, end, end2, f = (lower, lower, *(None,) * 5) if wt is None else wt
    scr.qt[...] = _mT(q)
    xp.matmul(k, scr.qt, out=scr.at)
    xp.multiply(scr.at, _mT(lag), out=scr.at)
    if rise is not None:
        xp.multiply(scr.qt, _mT(rise), out=scr.qt)
    xp.matmul(_mT(_weighed(xp, k, end, scr.weighed)), k, out=scr.loc_s)
    _steps(xp, scr.loc_s, f, s, scr.s_c)
    xp.matmul(_mT(k), scr.at, out=scr.yt)
    xp.matmul(scr.s_c, scr.qt, out=scr.term)
    xp.add(scr.yt, scr.term, out=scr.yt)
    xp.matmul(scr.yt, _weighed(xp, v, end2, scr.weighed), out=scr.loc_m)
    _steps(xp, scr.loc_m, None if f is None else f * f, m, scr.m_c)
    xp.matmul(q, scr.yt, out=scr.p)
    xp.multiply(scr.p, lag2, out=scr.p)
    xp.matmul(scr.p, v, out=out)
    xp.matmul(_weighed(xp, q, rise2, scr.weighed), scr.m_c, out=scr.rows)
    xp.add(out, scr.rows, out=out)


def infer(xp: Any, q: Any, k: Any, v: Any, s: Any, m: Any, wt: Weights | None,
          per_segment: int, out: Any, scr: Scratch) -> None:
    """The forward of chunks ``[N, B, H, w, ·]`` (``q, k, v``, any strides; numpy arrays for
    ``xp = numpy``, tensors for ``xp = torch``) from the states ``s, m`` (``[B, H, D, ·]``,
    advanced to the states after the last chunk in place), in segments of ``per_segment``
    chunks through ``scr`` (at least that many chunks, the same library); the output is
    written into ``out`` (``[N, B, H, w, W]``). ``wt`` in the same library as the arrays."""
    n, w = q.shape[0], q.shape[-2]
    lower = np.tril(np.ones((w, w), q.dtype)) if xp is np else torch.ones(
        w, w, dtype=q.dtype, device=q.device).tril_()
    for lo, hi in itertools.pairwise([*range(0, n, per_segment), n]):
        part = Scratch(*(x[:hi - lo] for x in scr))
        _segment(xp, q[lo:hi], k[lo:hi], v[lo:hi], s, m, wt, out[lo:hi], part, lower)
