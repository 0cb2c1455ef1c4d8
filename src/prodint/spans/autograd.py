"""The application of a span and its backward, itself computed by spans.

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
products ``x[b, s_e, :]^T grad_y[b, t_e, :]``).

The scalar form runs on the span's sparse matrix. With per-element coefficients
``c_e = nu_e * w[pi_e]`` the span is ``Y = M(c) X`` for ``X [in_size, B]`` (the gathered
index leading, so rows move whole) and the CSR matrix ``M(c)[t_e, s_e] += c_e``, laid out once
per span (:class:`Pattern`). Its two derivatives are spans again: ``grad_X = M(c)^T grad_Y``
(the transposed pattern) and ``grad_c[e] = <X[s_e], grad_Y[t_e]>`` (:func:`_Dots`, the sampled
product ``grad_Y X^T`` on the pattern); the derivatives of ``_Dots`` are ``M(g)^T grad_Y`` and
``M(g) X`` once more, so every order of derivative stays on the two patterns, and the
gradients in ``w`` and ``nu`` follow from ``c`` by the chain rule. The block form runs either
on the scalar span whose rows are the pairs ``(t_e, pi_e)`` followed by one matrix product
with ``w`` (:func:`apply_grouped`, when there are no more such rows than ``2 |E|``), or as the
gather-multiply-scatter of the formulas above (:func:`span_function`), whose backward is
written with differentiable torch operations on the saved tensors.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["Pattern", "apply_grouped", "apply_scalar", "span_function"]


@dataclass(frozen=True)
class Pattern:
    """The CSR layout of the matrix ``M[rows_e, cols_e] += c_e`` of ``[n_rows, n_cols]``.

    Elements on the same ``(row, column)`` pair (a padded convolution's taps, multi-edges)
    share one stored entry. Indices are int32 where they fit (what the sparse kernels use),
    int64 otherwise.

    Attributes:
        crow: ``[n_rows + 1]``, the row pointers.
        col: ``[nnz]``, the column of every stored entry (sorted within each row).
        entry: int64 ``[E]``, the stored entry each element adds into.
        order: int64 ``[nnz]``, the element of every stored entry when no two elements share
            one (the entries are then a gather of the coefficients), else ``None``.
        shape: ``(n_rows, n_cols)``.
    """

    crow: Tensor
    col: Tensor
    entry: Tensor
    order: Tensor | None
    shape: tuple[int, int]

    @staticmethod
    def of(rows: Tensor, cols: Tensor, n_rows: int, n_cols: int) -> Pattern:
        """The pattern of the elements ``(rows_e, cols_e)`` (int64 ``[E]``, in range)."""
        order = torch.argsort(cols, stable=True)
        order = order.index_select(0, torch.argsort(rows.index_select(0, order), stable=True))
        rows, cols = rows.index_select(0, order), cols.index_select(0, order)
        first = torch.ones_like(rows, dtype=torch.bool)
        first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
        entry = torch.empty_like(order).index_copy_(0, order, torch.cumsum(first, 0) - 1)
        counts = torch.bincount(rows[first], minlength=n_rows)
        crow = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        col = cols[first]
        if max(n_rows, n_cols, rows.shape[0]) < 2**31:
            crow, col = crow.to(torch.int32), col.to(torch.int32)
        distinct = bool(first.all())
        return Pattern(crow, col, entry, order if distinct else None, (n_rows, n_cols))

    def matrix(self, c: Tensor) -> Tensor:
        """The CSR matrix ``M(c)`` of the coefficients ``c [E]``."""
        if self.order is not None:
            return self.csr(c.index_select(0, self.order))
        return self.csr(c.new_zeros(self.col.shape).index_add_(0, self.entry, c))

    def csr(self, values: Tensor) -> Tensor:
        """The CSR matrix with the stored entries ``values [nnz]``."""
        with warnings.catch_warnings():   # torch calls its CSR layout beta on first use
            warnings.filterwarnings("ignore", "Sparse CSR tensor support", UserWarning)
            return torch.sparse_csr_tensor(self.crow, self.col, values, self.shape,
                                           check_invariants=False)


class _Apply(torch.autograd.Function):
    """``Y = M(c) X``: ``c [E]``, ``X [n_cols, B]`` -> ``Y [n_rows, B]``."""

    @staticmethod
    def forward(ctx: Any, c: Tensor, x: Tensor, pattern: Pattern, transposed: Pattern
                ) -> Tensor:
        ctx.save_for_backward(c, x)
        ctx.patterns = pattern, transposed
        return torch.sparse.mm(pattern.matrix(c), x)

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        c, x = ctx.saved_tensors
        pattern, transposed = ctx.patterns
        need_c, need_x = ctx.needs_input_grad[:2]
        grad_c = _Dots.apply(x, grad_y, pattern, transposed) if need_c else None
        grad_x = _Apply.apply(c, grad_y, transposed, pattern) if need_x else None
        return grad_c, grad_x, None, None


class _Dots(torch.autograd.Function):
    """``d[e] = <X[cols_e], G[rows_e]>``: ``X [n_cols, B]``, ``G [n_rows, B]`` -> ``d [E]``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, g: Tensor, pattern: Pattern, transposed: Pattern
                ) -> Tensor:
        ctx.save_for_backward(x, g)
        ctx.patterns = pattern, transposed
        sampled = torch.sparse.sampled_addmm(pattern.csr(x.new_zeros(pattern.col.shape)),
                                             g, x.T, beta=0.0)
        return sampled.values().index_select(0, pattern.entry)

    @staticmethod
    def backward(ctx: Any, grad_d: Tensor) -> tuple[Tensor | None, ...]:
        x, g = ctx.saved_tensors
        pattern, transposed = ctx.patterns
        need_x, need_g = ctx.needs_input_grad[:2]
        grad_x = _Apply.apply(grad_d, g, transposed, pattern) if need_x else None
        grad_g = _Apply.apply(grad_d, x, pattern, transposed) if need_g else None
        return grad_x, grad_g, None, None


def apply_scalar(c: Tensor, x: Tensor, pattern: Pattern, transposed: Pattern) -> Tensor:
    """``y [B, n_rows]`` with ``y[b, rows_e] += c_e x[b, cols_e]`` for ``x [B, n_cols]`` and
    ``c [E]``; ``transposed`` is the pattern of the same elements with rows and columns
    swapped. A row-major ``x.T`` (a node-major tensor seen channel-first) is read in place."""
    out: Tensor = _Apply.apply(c, x.T, pattern, transposed)
    return out.T


def apply_grouped(nu: Tensor, w: Tensor, x: Tensor, pattern: Pattern, transposed: Pattern
                  ) -> Tensor:
    """The block form ``y [B, out_size, c_out]`` for ``x [B, in_size, c_in]``, ``w [P, c_in,
    c_out]`` and weights ``nu [E]``, through the scalar span onto the pairs ``(t, p)`` (rows
    ``t_e * P + pi_e`` of ``pattern``): ``G[t, p, b, :] = sum_{t_e = t, pi_e = p} nu_e
    x[b, s_e, :]``, then ``y[b, t, :] = sum_p G[t, p, b, :] @ w[p]``."""
    batch, in_size, c_in = x.shape
    p = w.shape[0]
    rows = x.permute(1, 0, 2).reshape(in_size, batch * c_in)
    grouped = _Apply.apply(nu, rows, pattern, transposed)           # [out * P, B * c_in]
    grouped = grouped.reshape(-1, p, batch, c_in)
    return torch.einsum("tpbi,pio->bto", grouped, w)


class _SpanFunction(torch.autograd.Function):
    """The block form ``span(w, x)`` by gather-multiply-scatter, with the backward of the
    module docstring."""

    @staticmethod
    def forward(ctx: Any, w: Tensor, x: Tensor, weight: Tensor, source: Tensor,
                target: Tensor, param: Tensor, in_size: int, out_size: int) -> Tensor:
        ctx.save_for_backward(w, x, weight, source, target, param)
        ctx.in_size = in_size
        return _scatter(source, target, param, weight, w, x, out_size)

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        w, x, weight, source, target, param = ctx.saved_tensors
        need_w, need_x, need_nu = ctx.needs_input_grad[:3]
        grad_w = grad_x = grad_nu = None
        if need_x:   # the transposed span (source <-> target) applied to grad_y, same w
            grad_x = _scatter(target, source, param, weight, w.transpose(1, 2), grad_y,
                              ctx.in_size)
        if need_w or need_nu:
            outer = torch.einsum("bei,beo->eio", x.index_select(1, source),
                                 grad_y.index_select(1, target))     # [E, c_in, c_out]
            if need_w:
                grad_w = w.new_zeros(w.shape).index_add(0, param, outer * weight[:, None, None])
            if need_nu:
                grad_nu = (outer * w.index_select(0, param)).sum((1, 2))
        return grad_w, grad_x, grad_nu, None, None, None, None, None


def _scatter(source: Tensor, target: Tensor, param: Tensor, weight: Tensor, w: Tensor,
             x: Tensor, out_size: int) -> Tensor:
    """``y [B, out_size, c_out]``: the gather ``x[:, s]``, the multiply by ``nu * w[pi]``
    block by block and the scatter-add over ``t``."""
    blocks = w.index_select(0, param) * weight[:, None, None]       # [E, c_in, c_out]
    message = torch.einsum("bei,eio->beo", x.index_select(1, source), blocks)
    return x.new_zeros(x.shape[0], out_size, w.shape[2]).index_add(1, target, message)


def span_function(w: Tensor, x: Tensor, weight: Tensor, source: Tensor, target: Tensor,
                  param: Tensor, in_size: int, out_size: int) -> Tensor:
    """Apply a span in block form through the gather-multiply-scatter autograd function
    (``x`` already flattened to ``[B, in_size, c_in]``); arguments are assumed checked."""
    out: Tensor = _SpanFunction.apply(w, x, weight, source, target, param, in_size, out_size)
    return out
