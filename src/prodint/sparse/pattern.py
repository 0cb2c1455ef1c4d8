"""The sparse matrix of a span: its pattern, fixed once, and its values, a function of ``w``.

A scalar span ``X <-s- E -t-> Y`` with parameters ``w`` and weights ``nu`` is the matrix

    ``M[i, j] = sum_{e : t_e = i, s_e = j} nu_e * w[pi_e]``      (``[out_size, in_size]``)

so that ``span(w, x) == x @ M.T``. Several elements of ``E`` may land on one entry (a
padded convolution's taps, a group's orbit), so the pattern is the set of distinct pairs
``(t_e, s_e)``: :class:`SparsePattern` sorts them once (row-major, as CSR wants) and keeps,
for every element, the entry it adds into. :meth:`SparsePattern.values` is then one gather
and one ``index_add`` (differentiable in ``w``), and :meth:`SparsePattern.matrix` the CSR
tensor ``torch.sparse_csr_tensor(crow, col, values)``.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from prodint.checks import check_instance, check_memory, check_tensor
from prodint.spans import Span

__all__ = ["SparsePattern", "csr_matrix"]


def csr_matrix(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    """``torch.sparse_csr_tensor(crow, col, values, shape)`` for a pattern built here (sorted,
    in range: the invariant checks are skipped), without torch's notice that its CSR support
    is in beta (the operations used here, products and their gradients, are tested)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


class SparsePattern:
    """The CSR pattern of a scalar span: distinct ``(row, column)`` pairs in row-major order.

    Attributes:
        shape: ``(out_size, in_size)``.
        crow: int64 ``[out_size + 1]``, the CSR row pointers.
        col: int64 ``[nnz]``, the column of every stored entry.
        entry: int64 ``[E]``, the stored entry each element of the span adds into.

    Raises:
        TypeError: ``span`` is not a :class:`~prodint.spans.Span`.
        ValueError: a pattern whose indices would not fit in memory.
    """

    def __init__(self, span: Span) -> None:
        self.span = check_instance(span, "span", Span)
        rows, cols = span.out_size, span.in_size
        check_memory(span.size * 8 * 4, "span", "the sparse pattern")
        key = span.target * cols + span.source
        unique, self.entry = torch.unique(key, sorted=True, return_inverse=True)
        self.row = torch.div(unique, cols, rounding_mode="floor") if cols else unique
        self.col = unique - self.row * cols
        counts = torch.bincount(self.row, minlength=rows)
        self.crow = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        self.shape = (rows, cols)

    @property
    def nnz(self) -> int:
        """The number of stored entries."""
        return int(self.col.shape[0])

    def values(self, w: Tensor) -> Tensor:
        """``[nnz]``: the stored entries ``sum_e nu_e w[pi_e]`` of each pair (differentiable).

        Raises:
            TypeError: ``w`` is not a floating tensor.
            ValueError: ``w`` is not ``[param_size]`` or is on another device.
        """
        span = self.span
        w = check_tensor(w, "w", shape=(span.param_size,), layout="[param_size]")
        if w.device != span.device:
            raise ValueError(f"w: expected a tensor on {span.device} (that of the span), "
                             f"received one on {w.device}")
        per_element = w.index_select(0, span.param)
        if span.weight is not None:
            if span.weight.dtype != w.dtype:
                raise TypeError(f"w: expected dtype {span.weight.dtype} (that of the span's "
                                f"weights), received {w.dtype}")
            per_element = per_element * span.weight
        return w.new_zeros(self.nnz).index_add(0, self.entry, per_element)

    def matrix(self, w: Tensor) -> Tensor:
        """The CSR matrix ``M [out_size, in_size]`` (values differentiable in ``w``)."""
        return csr_matrix(self.crow.to(w.device), self.col.to(w.device), self.values(w),
                          self.shape)

    def dense(self, w: Tensor) -> Tensor:
        """``M`` as a dense tensor (for small problems and tests)."""
        values = self.values(w)
        check_memory(self.shape[0] * self.shape[1] * w.element_size(), "w", "the dense matrix")
        flat = w.new_zeros(self.shape[0] * self.shape[1])
        flat = flat.index_add(0, self.row * self.shape[1] + self.col, values)
        return flat.reshape(self.shape)
