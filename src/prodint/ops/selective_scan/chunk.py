"""The selective scan in chunks, in the style of the SSD minimal reference.

The sequence is cut into chunks of ``c`` tokens. With ``ℓ_t = Σ_{r ≤ t} Δ_r A`` the
cumulative log-decay inside a chunk (``[c, D, N]``, non-increasing since ``A < 0`` in Mamba,
though nothing here relies on the sign), a chunk entered with state ``H`` gives

    y_t = Σ_n C_t[n] Σ_{s ≤ t} exp(ℓ_t - ℓ_s)[:, n] B_s[n] (Δ_s ⊙ x_s)     (intra-chunk)
        + Σ_n C_t[n] exp(ℓ_t)[:, n] H[:, n]                                   (carried state)
        + D ⊙ x_t,
    H ← exp(ℓ_{c-1}) ⊙ H + Σ_s exp(ℓ_{c-1} - ℓ_s) ⊙ B_s (Δ_s ⊙ x_s)ᵀ.

The intra-chunk part is a masked matrix product whose ``[c, c, D, N]`` kernel is built from
segment sums ``ℓ_t - ℓ_s`` in log space, masked to ``s ≤ t`` *before* the exponential, so no
ratio of two decays is ever formed and nothing overflows however strong the decay. Across
chunks the state update is a short scan over ``T/c`` chunk states.

Unlike Mamba-2 (one scalar decay per head), Mamba's decay differs per ``(d, n)``, so the
kernel cannot be shared across channels: the intra-chunk term costs ``c`` times the
elementwise work of the plain recurrence. Each chunk runs under activation checkpointing, so
memory is ``O(B·T·D + B·(T/c)·D·N + B·c²·D·N)``: the ``[B, c, c, D, N]`` kernel of one chunk
at a time, recomputed in the backward pass.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from prodint.ops.checks import check_chunk_size
from prodint.ops.selective_scan.common import SelectiveScanState, check_inputs


def _chunk(h: Tensor, x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor
           ) -> tuple[Tensor, Tensor]:
    """One chunk: ``(y without the D skip [B, c, D], state after the chunk [B, D, N])``."""
    length = x.shape[1]
    log_decay = torch.cumsum(delta.unsqueeze(-1) * A, dim=1)  # ℓ_t  [B, c, D, N]
    segsum = log_decay.unsqueeze(2) - log_decay.unsqueeze(1)  # ℓ_t - ℓ_s  [B, t, s, D, N]
    future = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)
    kernel = torch.exp(segsum.masked_fill(future[:, :, None, None], float("-inf")))
    cb = C.unsqueeze(2) * B.unsqueeze(1)  # C_t[n] B_s[n]  [B, t, s, N]
    mix = (kernel @ cb.unsqueeze(-1)).squeeze(-1)  # [B, t, s, D]
    u = delta * x
    y = (mix * u.unsqueeze(1)).sum(2)
    entered = torch.exp(log_decay)  # decay from the chunk start to t
    y = y + ((entered * h.unsqueeze(1)) @ C.unsqueeze(-1)).squeeze(-1)
    to_end = torch.exp(log_decay[:, -1:] - log_decay)  # decay from s to the chunk end
    h = entered[:, -1] * h + torch.einsum("bsdn,bsn,bsd->bdn", to_end, B, u)
    return y, h


def selective_scan_chunk(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                         D: Tensor | None = None, *, chunk_size: int = 64,
                         initial_state: SelectiveScanState | None = None,
                         output_final_state: bool = False
                         ) -> tuple[Tensor, SelectiveScanState | None]:
    """Chunked selective scan (module doc; contract as :func:`~prodint.ops.selective_scan`).

    ``chunk_size`` is the chunk length ``c``; it changes memory and speed, never the result.
    """
    batch, length, width, size = check_inputs(x, delta, A, B, C, D, initial_state,
                                           output_final_state=output_final_state)
    chunk_size = check_chunk_size(chunk_size)
    h = x.new_zeros(batch, width, size) if initial_state is None else initial_state.h
    recording = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, delta, A, B, C, h))
    ys = []
    for s in range(0, length, chunk_size):
        sl = slice(s, s + chunk_size)
        args = (h, x[:, sl], delta[:, sl], A, B[:, sl], C[:, sl])
        # Checkpointing keeps one chunk's [B, c, c, D, N] kernel alive instead of all of them.
        y, h = (checkpoint(_chunk, *args, use_reentrant=False) if recording
                else _chunk(*args))
        ys.append(y)
    y = torch.cat(ys, dim=1) if ys else x.new_zeros(batch, 0, width)
    if D is not None:
        y = y + D * x
    return y, (SelectiveScanState(h) if output_final_state else None)
