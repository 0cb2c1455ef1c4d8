"""The gather-multiply-scatter of a span and its backward, itself computed by spans.

A span ``X <-s- E -t-> Y`` with parameter map ``pi: E -> W`` and weights ``nu`` applies as

    y[b, t_e] += nu_e * w[pi_e] * x[b, s_e]                     (scalar form)
    y[b, t_e, :] += nu_e * x[b, s_e, :] @ w[pi_e]               (block form)

summed over ``e`` in ``E``, for ``x`` of shape ``[B, in_size]`` / ``[B, in_size, c_in]`` and
``w`` of shape ``[param_size]`` / ``[param_size, c_in, c_out]``. Its derivatives are the same
span with its legs permuted (Bergomi and Vertechi):

    grad_x[b, s_e] += nu_e * w[pi_e] * grad_y[b, t_e]           (target and source swapped:
                                                                 the transposed span, same w)
    grad_w[pi_e]   += nu_e * sum_b x[b, s_e] * grad_y[b, t_e]   (a scatter over pi)
    grad_nu[e]      =        sum_b x[b, s_e] * w[pi_e] * grad_y[b, t_e]

(in block form ``w[pi_e]`` is transposed for ``grad_x`` and the products over ``b`` are outer
products ``x[b, s_e, :]^T grad_y[b, t_e, :]``). The backward is written with differentiable
torch operations on the saved tensors, so higher derivatives exist too.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["apply_span", "span_function"]


def apply_span(source: Tensor, target: Tensor, param: Tensor, weight: Tensor, w: Tensor,
               x: Tensor, out_size: int) -> Tensor:
    """``y`` of shape ``[B, out_size]`` (scalar form, ``x [B, in_size]``, ``w [P]``) or
    ``[B, out_size, c_out]`` (block form, ``x [B, in_size, c_in]``, ``w [P, c_in, c_out]``):
    the gather ``x[:, s]``, the multiply by ``nu * w[pi]`` and the scatter-add over ``t``."""
    gathered = x.index_select(1, source)                       # [B, E] or [B, E, c_in]
    if w.dim() == 1:
        message = gathered * (weight * w.index_select(0, param))
        out = x.new_zeros(x.shape[0], out_size)
    else:
        blocks = w.index_select(0, param) * weight[:, None, None]   # [E, c_in, c_out]
        message = torch.einsum("bei,eio->beo", gathered, blocks)
        out = x.new_zeros(x.shape[0], out_size, w.shape[2])
    return out.index_add(1, target, message)


def _grad_param(source: Tensor, target: Tensor, param: Tensor, weight: Tensor, x: Tensor,
                grad_y: Tensor, w: Tensor) -> Tensor:
    """``grad_w[p] = sum_{e: pi_e = p} nu_e sum_b x[b, s_e] (x) grad_y[b, t_e]``: the span with
    the parameter leg as its target, a scatter over ``pi``."""
    xs, gy = x.index_select(1, source), grad_y.index_select(1, target)
    if w.dim() == 1:
        per_edge = (xs * gy).sum(0) * weight
        return w.new_zeros(w.shape).index_add(0, param, per_edge)
    per_edge = torch.einsum("bei,beo->eio", xs, gy) * weight[:, None, None]
    return w.new_zeros(w.shape).index_add(0, param, per_edge)


def _grad_weight(source: Tensor, target: Tensor, param: Tensor, w: Tensor, x: Tensor,
                 grad_y: Tensor) -> Tensor:
    """``grad_nu[e] = sum_b <x[b, s_e] w[pi_e], grad_y[b, t_e]>``."""
    xs, gy = x.index_select(1, source), grad_y.index_select(1, target)
    if w.dim() == 1:
        return (xs * gy).sum(0) * w.index_select(0, param)
    return torch.einsum("bei,eio,beo->e", xs, w.index_select(0, param), gy)


class _SpanFunction(torch.autograd.Function):
    """``span(w, x)`` with the backward of the module docstring."""

    @staticmethod
    def forward(ctx: Any, w: Tensor, x: Tensor, weight: Tensor, source: Tensor,
                target: Tensor, param: Tensor, in_size: int, out_size: int) -> Tensor:
        ctx.save_for_backward(w, x, weight, source, target, param)
        ctx.in_size = in_size
        return apply_span(source, target, param, weight, w, x, out_size)

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        w, x, weight, source, target, param = ctx.saved_tensors
        need_w, need_x, need_nu = ctx.needs_input_grad[:3]
        grad_w = grad_x = grad_nu = None
        if need_x:   # the transposed span (source <-> target) applied to grad_y, same w
            wt = w if w.dim() == 1 else w.transpose(1, 2)
            grad_x = apply_span(target, source, param, weight, wt, grad_y, ctx.in_size)
        if need_w:
            grad_w = _grad_param(source, target, param, weight, x, grad_y, w)
        if need_nu:
            grad_nu = _grad_weight(source, target, param, w, x, grad_y)
        return grad_w, grad_x, grad_nu, None, None, None, None, None


def span_function(w: Tensor, x: Tensor, weight: Tensor, source: Tensor, target: Tensor,
                  param: Tensor, in_size: int, out_size: int) -> Tensor:
    """Apply a span through the custom autograd function (``x`` already flattened to
    ``[B, in_size]`` or ``[B, in_size, c_in]``); arguments are assumed checked."""
    out: Tensor = _SpanFunction.apply(w, x, weight, source, target, param, in_size, out_size)
    return out
