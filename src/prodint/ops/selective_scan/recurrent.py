"""The selective scan token by token with ``O(D·N)`` state, a backward that recomputes, a step.

Forward carries one state ``h [B, D, N]`` through the sequence. Autograd over such a loop
would keep every ``h_t`` (``[B, T, D, N]`` in all), which is exactly the memory the form is
meant to avoid, so :class:`_RecurrentScan` writes the backward by hand: it keeps the state
only at the start of every segment of ``chunk_size`` tokens, recomputes one segment's states
at a time and runs the adjoint recurrence backwards through it:

    g_t = C_t ⊗ ∂y_t + Ā_{t+1} ⊙ g_{t+1}               (∂L/∂h_t, g_T = ∂L/∂h_final)
    ∂B̄x_t = g_t,   ∂log Ā_t = g_t ⊙ h_{t-1} ⊙ Ā_t,   ∂C_t = Σ_d ∂y_t[d] h_t[d, :]
    ∂Δ_t = Σ_n ∂log Ā_t A + x_t Σ_n g_t B_t,   ∂x_t = Δ_t Σ_n g_t B_t + D ⊙ ∂y_t
    ∂A = Σ_{b,t} ∂log Ā_t Δ_t,   ∂B_t = Σ_d g_t Δ_t x_t,   ∂D = Σ_{b,t} ∂y_t x_t,
    ∂h_{-1} = Ā_0 ⊙ g_0.

Within a segment everything but the two recurrences themselves is one vectorised operation
over the segment, so the Python loop does one fused multiply-add per token. Memory is
``O(B·T·D + B·(T/c)·D·N + B·c·D·N)`` with ``c = chunk_size``. The backward is not itself
differentiable (no second derivatives).

:func:`selective_scan_step` advances one token: the streaming form a module's ``step`` uses.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from prodint.ops.checks import check_chunk_size
from prodint.ops.selective_scan.common import (
    SelectiveScanState,
    check_inputs,
    check_step_inputs,
)


def selective_scan_step(x_t: Tensor, delta_t: Tensor, A: Tensor, B_t: Tensor, C_t: Tensor,
                        D: Tensor | None = None, state: SelectiveScanState | None = None
                        ) -> tuple[Tensor, SelectiveScanState]:
    """One token: ``h ← exp(Δ_t A) ⊙ h + (Δ_t ⊙ x_t) B_tᵀ``, ``y_t = h C_t + D ⊙ x_t``.

    Args:
        x_t, delta_t: ``[B, D]``.
        A: ``[D, N]``.
        B_t, C_t: ``[B, N]``.
        D: ``[D]`` or ``None``.
        state: the state before the token (zeros when ``None``).

    Returns:
        ``(y_t [B, D], SelectiveScanState(h [B, D, N]))``: feeding a sequence token by token
        gives :func:`~prodint.ops.selective_scan`'s outputs and final state.
    """
    batch, width, size = check_step_inputs(x_t, delta_t, A, B_t, C_t, D, state)
    h = x_t.new_zeros(batch, width, size) if state is None else state.h
    h = torch.exp(delta_t.unsqueeze(-1) * A) * h + (delta_t * x_t).unsqueeze(-1) * B_t.unsqueeze(1)
    y = (h @ C_t.unsqueeze(-1)).squeeze(-1)
    return (y if D is None else y + D * x_t), SelectiveScanState(h)


def _segment_states(h0: Tensor, decay: Tensor, drive: Tensor) -> Tensor:
    """``h_t`` for every token of a segment, time-major: ``[L, B, D, N]`` from ``h_{-1} = h0``.

    Time-major keeps each step's slice contiguous, so the loop is one fused multiply-add
    written straight into its slot.
    """
    states = torch.empty_like(drive)
    h = h0
    for i in range(drive.shape[0]):
        h = torch.addcmul(drive[i], decay[i], h, out=states[i])
    return states


def _discretise(x: Tensor, delta: Tensor, A: Tensor, B: Tensor) -> tuple[Tensor, Tensor]:
    """Time-major ``Ā = exp(Δ A)`` and ``B̄ x = (Δ ⊙ x) B`` of a segment, ``[L, B, D, N]``."""
    dt = delta.transpose(0, 1).unsqueeze(-1)
    decay = torch.exp(dt * A)
    drive = (dt * x.transpose(0, 1).unsqueeze(-1)) * B.transpose(0, 1).unsqueeze(2)
    return decay, drive


class _RecurrentScan(torch.autograd.Function):
    """Selective scan with checkpointed states and the hand-written adjoint (module doc)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                h0: Tensor, segment: int) -> tuple[Tensor, Tensor]:
        length = x.shape[1]
        y = x.new_empty(x.shape)  # every segment writes its slice
        starts = []
        h = h0
        for s in range(0, length, segment):
            sl = slice(s, s + segment)
            starts.append(h)
            states = _segment_states(h, *_discretise(x[:, sl], delta[:, sl], A, B[:, sl]))
            y[:, sl] = torch.einsum("lbdn,bln->bld", states, C[:, sl])
            h = states[-1]
        ctx.save_for_backward(x, delta, A, B, C, *starts)
        ctx.segment = segment
        return y, h

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gy: Tensor, gh: Tensor | None
                 ) -> tuple[Tensor | None, ...]:
        x, delta, A, B, C, *starts = ctx.saved_tensors
        segment = ctx.segment
        length = x.shape[1]
        gx, gdelta = torch.zeros_like(x), torch.zeros_like(delta)
        gB, gC = torch.zeros_like(B), torch.zeros_like(C)
        gA = torch.zeros_like(A)
        g = torch.zeros_like(starts[0]) if gh is None else gh.clone()
        if gy is None:
            gy = torch.zeros_like(x)
        for k in range(len(starts) - 1, -1, -1):
            sl = slice(k * segment, min((k + 1) * segment, length))
            dt, xs, Bs, Cs, gys = delta[:, sl], x[:, sl], B[:, sl], C[:, sl], gy[:, sl]
            decay, drive = _discretise(xs, dt, A, Bs)
            states = _segment_states(starts[k], decay, drive)  # [L, B, D, N]
            previous = torch.cat([starts[k].unsqueeze(0), states[:-1]], dim=0)
            inject = torch.einsum("bld,bln->lbdn", gys, Cs)  # C_t ⊗ ∂y_t
            adjoint = torch.empty_like(states)
            for i in range(states.shape[0] - 1, -1, -1):
                g = torch.mul(torch.add(g, inject[i], out=adjoint[i]), decay[i])
            u = dt * xs
            gC[:, sl] = torch.einsum("bld,lbdn->bln", gys, states)
            g_drive = torch.einsum("lbdn,bln->bld", adjoint, Bs)  # Σ_n g_t B_t
            gB[:, sl] = torch.einsum("lbdn,bld->bln", adjoint, u)
            glog = adjoint * previous * decay  # ∂L/∂(Δ_t A)
            gdelta[:, sl] = torch.einsum("lbdn,dn->bld", glog, A) + xs * g_drive
            gx[:, sl] = dt * g_drive
            gA += torch.einsum("lbdn,bld->dn", glog, dt)
        return gx, gdelta, gA, gB, gC, g, None


def selective_scan_recurrent(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                             D: Tensor | None = None, *, chunk_size: int = 64,
                             initial_state: SelectiveScanState | None = None,
                             output_final_state: bool = False
                             ) -> tuple[Tensor, SelectiveScanState | None]:
    """Token-by-token selective scan (contract as :func:`~prodint.ops.selective_scan`).

    ``chunk_size`` is how many tokens lie between two stored states in the backward (module
    doc); it changes memory and speed, never the result.
    """
    batch, length, width, size = check_inputs(x, delta, A, B, C, D, initial_state,
                                           output_final_state=output_final_state)
    chunk_size = check_chunk_size(chunk_size)
    h0 = x.new_zeros(batch, width, size) if initial_state is None else initial_state.h
    if length == 0:
        return x.new_zeros(x.shape), (SelectiveScanState(h0) if output_final_state else None)
    y, h = _RecurrentScan.apply(x, delta, A, B, C, h0, chunk_size)
    if D is not None:
        y = y + D * x
    return y, (SelectiveScanState(h) if output_final_state else None)
