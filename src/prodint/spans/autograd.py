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

The scalar form runs on the span's sparse matrix ``M [out_size, in_size]``, whose entry on
the pair ``(t, s)`` is ``v = sum_{t_e = t, s_e = s} nu_e w[pi_e]``: the span is ``Y = M X``
for ``X [in_size, B]`` (the gathered index leading, so rows move whole), one sparse product
on the CSR layouts of ``M`` and ``M^T`` laid out once per span (:class:`Pattern`; a dense
product when every pair is stored, as in a dense layer). Its two
derivatives are spans again: ``grad_X = M^T grad_Y`` (the transposed pattern) and
``grad_v[(t, s)] = <X[s], grad_Y[t]>`` (:class:`_Dots`, the product ``grad_Y X^T`` sampled on
the pattern), and the derivatives of ``_Dots`` are ``M(g)^T grad_Y`` and ``M(g) X`` once more,
so every order of derivative stays on the two layouts; the gradients in ``w`` and ``nu``
follow from ``v`` by the chain rule (with one parameter and distinct pairs, ``v`` is
``nu[order] * w``, the sorted ``nu`` kept while it takes no gradient). The block form runs
either on the scalar span onto the pairs ``(pi_e, t_e)`` followed by one batched matrix
product with ``w`` (:func:`apply_grouped`, when there are no more such pairs than ``2 |E|``: an
im2col), or as the gather-multiply-scatter of the formulas above (:func:`span_function`),
whose backward is written with differentiable torch operations on the saved tensors.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = ["Pattern", "apply_grouped", "apply_scalar", "csr_tensor", "span_function"]


def _csr(rows: Tensor, cols: Tensor, n_rows: int) -> tuple[Tensor, Tensor, Tensor]:
    """``(order, crow, col)``: the permutation sorting ``(rows, cols)`` row-major, and the
    CSR row pointers and columns of the sorted pairs."""
    order = torch.argsort(cols, stable=True)
    order = order.index_select(0, torch.argsort(rows.index_select(0, order), stable=True))
    counts = torch.bincount(rows, minlength=n_rows)
    crow = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
    return order, crow, cols.index_select(0, order)


@dataclass(frozen=True)
class Pattern:
    """The CSR layouts of ``M [n_rows, n_cols]``, ``M[rows_e, cols_e] += nu_e w[pi_e]``, and
    of ``M^T``.

    Elements on the same ``(row, column)`` pair (a padded convolution's taps, multi-edges)
    share one stored entry. Indices are int32 where they fit (what the sparse kernels use).

    Attributes:
        crow, col: the row pointers ``[n_rows + 1]`` and columns ``[nnz]`` of ``M``.
        t_crow, t_col: those of ``M^T``.
        t_entry: int64 ``[nnz]``, the entry of ``M`` that each entry of ``M^T`` is.
        entry, param: int64 ``[E]``, the entry of ``M`` each element adds into and its ``pi``.
        order, entry_param: int64 ``[nnz]``, the element of every entry and its ``pi``, when
            no two elements share one (the entries are then gathers), else ``None``.
        shape: ``(n_rows, n_cols)``.
        sorted_nu: the last weights gathered into entry order, with their version (kept
            for weights that take no gradient: a fixed normalisation is sorted once).
    """

    crow: Tensor
    col: Tensor
    t_crow: Tensor
    t_col: Tensor
    t_entry: Tensor
    entry: Tensor
    param: Tensor
    order: Tensor | None
    entry_param: Tensor | None
    shape: tuple[int, int]
    sorted_nu: list[tuple[Tensor, int, Tensor]] = field(default_factory=list, compare=False)

    @staticmethod
    def of(rows: Tensor, cols: Tensor, param: Tensor, n_rows: int, n_cols: int) -> Pattern:
        """The pattern of the elements ``(rows_e, cols_e)`` with parameters ``param`` (int64
        ``[E]``, in range)."""
        order, _, col = _csr(rows, cols, n_rows)
        row = rows.index_select(0, order)
        first = torch.ones_like(row, dtype=torch.bool)
        first[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
        entry = torch.empty_like(order).index_copy_(0, order, torch.cumsum(first, 0) - 1)
        row, col = row[first], col[first]
        _, crow, _ = _csr(row, col, n_rows)
        t_entry, t_crow, t_col = _csr(col, row, n_cols)
        indices = [crow, col, t_crow, t_col]
        if max(n_rows, n_cols, rows.shape[0]) < 2**31:
            indices = [i.to(torch.int32) for i in indices]
        distinct = bool(first.all())
        return Pattern(*indices, t_entry, entry, param, order if distinct else None,
                       param.index_select(0, order) if distinct else None, (n_rows, n_cols))

    def entries(self, like: Tensor, nu: Tensor | None, w: Tensor | None) -> Tensor:
        """``[nnz]``: every entry's ``sum_e nu_e w[pi_e]`` (a factor given as ``None`` is
        one), in ``like``'s dtype; differentiable in ``nu`` and ``w``."""
        if self.order is None or self.entry_param is None:
            c = like.new_ones(self.entry.shape) if nu is None else nu
            c = c if w is None else c * w.index_select(0, self.param)
            return like.new_zeros(self.col.shape).index_add_(0, self.entry, c)
        nu = None if nu is None else self._sorted(nu, self.order)
        if w is None:
            return like.new_ones(self.col.shape) if nu is None else nu
        if w.shape[0] == 1:   # one parameter: a broadcast, not a gather
            return w.expand(self.col.shape).contiguous() if nu is None else nu * w
        per_entry = w.index_select(0, self.entry_param)
        return per_entry if nu is None else nu * per_entry

    def _sorted(self, nu: Tensor, order: Tensor) -> Tensor:
        """``nu[order]``, gathered once for weights that take no gradient (and again after
        they change in place; inference tensors, which keep no version, every time)."""
        if nu.requires_grad or nu.is_inference():
            return nu.index_select(0, order)
        if not self.sorted_nu or self.sorted_nu[0][0] is not nu or \
                self.sorted_nu[0][1] != nu._version:
            with torch.inference_mode(False):   # kept for later calls that take gradients
                self.sorted_nu[:] = [(nu, nu._version, nu.index_select(0, order))]
        return self.sorted_nu[0][2]

    @property
    def full(self) -> bool:
        """Whether every pair is stored: the entries, row-major, are then ``M`` itself."""
        return self.col.shape[0] == self.shape[0] * self.shape[1]

    def matrix(self, values: Tensor, transpose: bool = False) -> Tensor:
        """``M`` (or ``M^T``) with the entries ``values [nnz]``: a CSR matrix, or a dense view
        of ``values`` when the pattern is :attr:`full`."""
        if self.full:
            dense = values.view(self.shape)
            return dense.T if transpose else dense
        crow, col, shape = self.crow, self.col, self.shape
        if transpose:
            crow, col, shape = self.t_crow, self.t_col, shape[::-1]
            values = values.index_select(0, self.t_entry)
        return csr_tensor(crow, col, values, shape)


def csr_tensor(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    """``torch.sparse_csr_tensor`` of a layout built here (sorted, in range: the invariant
    checks are skipped), without torch's notice that its CSR layout is in beta."""
    with warnings.catch_warnings():   # torch calls its CSR layout beta on first use
        warnings.filterwarnings("ignore", "Sparse CSR tensor support", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


class _Apply(torch.autograd.Function):
    """``Y = M X`` (``X [n_cols, B]`` -> ``Y [n_rows, B]``) or ``Y = M^T X`` (``transpose``),
    for the entries ``v [nnz]`` of ``M``."""

    @staticmethod
    def forward(ctx: Any, v: Tensor, x: Tensor, pattern: Pattern, transpose: bool) -> Tensor:
        ctx.save_for_backward(v, x)
        ctx.pattern, ctx.transpose = pattern, transpose
        return pattern.matrix(v, transpose) @ x

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        v, x = ctx.saved_tensors
        pattern, transpose = ctx.pattern, ctx.transpose
        need_v, need_x = ctx.needs_input_grad[:2]
        grad_v = grad_x = None
        if need_v:   # entry (r, c) of M: <X[c], grad_Y[r]>, or <X[r], grad_Y[c]> for M^T
            pair = (grad_y, x) if transpose else (x, grad_y)
            grad_v = _Dots.apply(*pair, pattern)
        if need_x:
            grad_x = _Apply.apply(v, grad_y, pattern, not transpose)
        return grad_v, grad_x, None, None


class _Dots(torch.autograd.Function):
    """``d [nnz]``, ``d_j = <A[c_j], B[r_j]>`` over the entries ``(r_j, c_j)`` of ``M``, for
    ``A [n_cols, B]`` and ``B [n_rows, B]``: the product ``B A^T`` sampled on the pattern."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor, pattern: Pattern) -> Tensor:
        ctx.save_for_backward(a, b)
        ctx.pattern = pattern
        if pattern.full:
            return (b @ a.T).reshape(-1)
        zeros = pattern.matrix(a.new_zeros(pattern.col.shape))
        return torch.sparse.sampled_addmm(zeros, b, a.T, beta=0.0).values()

    @staticmethod
    def backward(ctx: Any, grad_d: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        pattern = ctx.pattern
        need_a, need_b = ctx.needs_input_grad[:2]
        grad_a = _Apply.apply(grad_d, b, pattern, True) if need_a else None
        grad_b = _Apply.apply(grad_d, a, pattern, False) if need_b else None
        return grad_a, grad_b, None


def apply_scalar(v: Tensor, x: Tensor, pattern: Pattern) -> Tensor:
    """``y [B, n_rows]`` = ``x @ M.T`` for ``x [B, n_cols]`` and the entries ``v [nnz]`` of
    ``M``. A row-major ``x.T`` (a node-major tensor seen channel-first) is read in place."""
    out: Tensor = _Apply.apply(v, x.T, pattern, False)
    return out.T


def apply_grouped(v: Tensor, w: Tensor, x: Tensor, pattern: Pattern, out_size: int) -> Tensor:
    """The block form ``y [B, out_size, c_out]`` for ``x [B, in_size, c_in]`` and ``w [P,
    c_in, c_out]``, through the scalar span onto the pairs ``(p, t)`` (rows ``pi_e out_size +
    t_e`` of ``pattern``, entries ``v`` the sums of ``nu``): ``G[p, t, b, :] = sum_{pi_e = p,
    t_e = t} nu_e x[b, s_e, :]``, then ``y[b, t, :] = sum_p G[p, t, b, :] @ w[p]``, one
    batched matrix product over ``p`` on ``G`` as it lies."""
    batch, in_size, c_in = x.shape
    p, c_out = w.shape[0], w.shape[2]
    rows = x.permute(1, 0, 2).reshape(in_size, batch * c_in)
    grouped = _Apply.apply(v, rows, pattern, False)                 # [P * out, B * c_in]
    y = torch.bmm(grouped.reshape(p, out_size * batch, c_in), w).sum(0)   # [out * B, c_out]
    return y.reshape(out_size, batch, c_out).permute(1, 0, 2)


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
