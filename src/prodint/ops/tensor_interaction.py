"""Tensor interaction: channel mixing by a data-dependent ``d × d`` matrix (Deep Tensor Network).

Per batch and head, with ``M = Qᵀ K`` (``Σ_i q_i k_iᵀ``)::

    non-causal:  TI(Q, K, V) = V M Mᵀ / ‖M‖_F²
    causal:      o_t = v_t M_t M_tᵀ / ‖M_t‖_F²,   M_t = Σ_{i ≤ t} q_i k_iᵀ

(``v`` has the width ``D`` of ``q`` and ``k``). ``‖M‖_F²`` is non-negative; it is guarded
below by ``eps``. Three forms: ``naive`` (every ``M_t`` formed explicitly, the reference),
``recurrent`` (``M_t`` carried token by token, ``O(d²)`` state) and ``chunk`` (parallel
inside chunks of length ``w`` with the entering ``M``: ``v_t M_t = v_t M + [(V Qᵀ) ⊙ L] K``,
``u_t M_tᵀ = u_t Mᵀ + [(U Kᵀ) ⊙ L] Q`` and
``‖M_t‖² = ‖M‖² + 2 Σ_{i≤t} q_iᵀ M k_i + Σ_{i,j≤t} (q_i·q_j)(k_i·k_j)``).
The final state is ``M_T`` (``[B, H, D, D]``).
"""

from __future__ import annotations

import torch
from torch import Tensor

MODES = ("naive", "chunk", "recurrent")


def _check(q: Tensor, k: Tensor, v: Tensor, mode: str,
           initial_state: Tensor | None) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name}: expected [B, T, H, D], received {shape}")
    if q.shape != k.shape or v.shape != q.shape:
        raise ValueError(f"k, v: expected the shape of q {tuple(q.shape)} (tensor interaction "
                         f"needs Dv = D), received {tuple(k.shape)}, {tuple(v.shape)}")
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, received {mode!r}")
    b, _, h, d = q.shape
    if initial_state is not None and tuple(initial_state.shape) != (b, h, d, d):
        raise ValueError(f"initial_state: expected shape {(b, h, d, d)}, received "
                         f"{tuple(initial_state.shape)}")


def tensor_interaction(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = True,
                       mode: str = "chunk", chunk_size: int = 64, eps: float = 1e-6,
                       initial_state: Tensor | None = None, output_final_state: bool = False
                       ) -> tuple[Tensor, Tensor | None]:
    """Tensor interaction (see module doc); q, k, v ``[B, T, H, D]``; returns ``(o, M_T)``."""
    _check(q, k, v, mode, initial_state)
    qh, kh, vh = (x.transpose(1, 2) for x in (q, k, v))  # [B, H, T, D]
    if not causal:
        if initial_state is not None or output_final_state:
            raise ValueError("initial_state/output_final_state: expected causal=True")
        m = qh.transpose(-1, -2) @ kh
        norm = m.pow(2).sum((-1, -2), keepdim=True).clamp_min(eps)
        return ((vh @ m @ m.transpose(-1, -2)) / norm).transpose(1, 2), None
    m0 = initial_state if initial_state is not None else q.new_zeros(q.shape[0], q.shape[2],
                                                                     q.shape[3], q.shape[3])
    if mode == "naive":
        out, m_end = _naive(qh, kh, vh, m0, eps)
    elif mode == "recurrent":
        out, m_end = _recurrent(qh, kh, vh, m0, eps)
    else:
        out, m_end = _chunk(qh, kh, vh, m0, eps, chunk_size)
    return out.transpose(1, 2), (m_end if output_final_state else None)


def _naive(q: Tensor, k: Tensor, v: Tensor, m0: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    # every prefix M_t explicitly: [B, H, T, D, D]
    m = m0.unsqueeze(2) + (q.unsqueeze(-1) * k.unsqueeze(-2)).cumsum(2)
    u = (v.unsqueeze(-2) @ m) @ m.transpose(-1, -2)
    norm = m.pow(2).sum((-1, -2)).clamp_min(eps).unsqueeze(-1)
    return u.squeeze(-2) / norm, m[:, :, -1] if q.shape[2] else m0


def _recurrent(q: Tensor, k: Tensor, v: Tensor, m: Tensor, eps: float
               ) -> tuple[Tensor, Tensor]:
    outs = []
    for t in range(q.shape[2]):
        m = m + q[:, :, t].unsqueeze(-1) * k[:, :, t].unsqueeze(-2)
        u = (v[:, :, t].unsqueeze(-2) @ m) @ m.transpose(-1, -2)
        outs.append(u.squeeze(-2) / m.pow(2).sum((-1, -2)).clamp_min(eps).unsqueeze(-1))
    out = torch.stack(outs, 2) if outs else v.new_zeros(v.shape)
    return out, m


def _chunk(q: Tensor, k: Tensor, v: Tensor, m: Tensor, eps: float, chunk: int
           ) -> tuple[Tensor, Tensor]:
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk_size: expected a positive int, received {chunk!r}")
    t = q.shape[2]
    outs = []
    for start in range(0, t, chunk):
        qc, kc, vc = (x[:, :, start:start + chunk] for x in (q, k, v))
        n = qc.shape[2]
        lower = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        vm = vc @ m + ((vc @ qc.transpose(-1, -2)) * lower) @ kc  # v_t M_t
        u = vm @ m.transpose(-1, -2) + ((vm @ kc.transpose(-1, -2)) * lower) @ qc
        gram = (qc @ qc.transpose(-1, -2)) * (kc @ kc.transpose(-1, -2))  # (q_i·q_j)(k_i·k_j)
        strict = (gram * lower.tril(-1)).sum(-1)
        quad = (2 * strict + gram.diagonal(dim1=-2, dim2=-1)).cumsum(-1)
        linear = 2 * ((qc @ m) * kc).sum(-1).cumsum(-1)
        norm = m.pow(2).sum((-1, -2)).unsqueeze(-1) + linear + quad
        outs.append(u / norm.clamp_min(eps).unsqueeze(-1))
        m = m + qc.transpose(-1, -2) @ kc
    out = torch.cat(outs, 2) if outs else v.new_zeros(v.shape)
    return out, m
