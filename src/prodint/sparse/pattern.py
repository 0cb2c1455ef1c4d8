"""The sparse matrix of a span: its pattern, fixed once, and its values, a function of ``w``.

A scalar span ``X <-s- E -t-> Y`` with parameters ``w`` and weights ``nu`` is the matrix

    ``M[i, j] = sum_{e : t_e = i, s_e = j} nu_e * w[pi_e]``      (``[out_size, in_size]``)

so that ``span(w, x) == x @ M.T``. Several elements of ``E`` may land on one entry (a
padded convolution's taps, a group's orbit), so the pattern is the set of distinct pairs
``(t_e, s_e)``, row-major as CSR wants: the span's own layout
(:meth:`prodint.spans.Span.pattern`, the one its application runs on). :class:`SparsePattern`
reads it: :meth:`SparsePattern.values` are the stored entries (differentiable in ``w``) and
:meth:`SparsePattern.matrix` the CSR tensor; a product with it differentiates through
torch's sparse kernels (the sparse execution of :mod:`prodint.sparse.module`), where the
span's own application differentiates by spans.
"""

from __future__ import annotations

from torch import Tensor

from prodint.checks import check_instance, check_memory, check_tensor
from prodint.spans import Span
from prodint.spans.autograd import apply_scalar, csr_tensor

__all__ = ["SparsePattern"]


class SparsePattern:
    """The CSR pattern of a scalar span: distinct ``(row, column)`` pairs in row-major order.

    Attributes:
        span: the span.
        shape: ``(out_size, in_size)``.
        crow: the CSR row pointers ``[out_size + 1]``.
        col: the column of every stored entry ``[nnz]``.

    Raises:
        TypeError: ``span`` is not a :class:`~prodint.spans.Span`.
    """

    def __init__(self, span: Span) -> None:
        self.span = check_instance(span, "span", Span)
        layout = span.pattern()
        self.crow, self.col, self.shape = layout.crow, layout.col, layout.shape

    @property
    def nnz(self) -> int:
        """The number of stored entries."""
        return int(self.col.shape[0])

    def values(self, w: Tensor) -> Tensor:
        """``[nnz]``: the stored entries ``sum_e nu_e w[pi_e]`` of each pair (differentiable).

        Raises:
            TypeError: ``w`` is not a floating tensor, or not of the weights' dtype.
            ValueError: ``w`` is not ``[param_size]`` or is on another device.
        """
        span = self.span
        w = check_tensor(w, "w", shape=(span.param_size,), layout="[param_size]")
        if w.device != span.device:
            raise ValueError(f"w: expected a tensor on {span.device} (that of the span), "
                             f"received one on {w.device}")
        if span.weight is not None and span.weight.dtype != w.dtype:
            raise TypeError(f"w: expected dtype {span.weight.dtype} (that of the span's "
                            f"weights), received {w.dtype}")
        return span.pattern().entries(w, span.weight, w)

    def apply(self, w: Tensor, x: Tensor) -> Tensor:
        """``x @ M(w).T`` for ``x [B, in_size]``: one CSR product, differentiated by CSR
        products on the same layout (``grad_x = grad_y M``, the values' gradient the product
        ``grad_y^T x`` sampled on the pattern), so training in the sparse form costs what the
        forward does; torch's own CSR autograd (:meth:`matrix` then ``@``) computes the same
        gradients but, on the CPU, orders of magnitude slower.

        Raises:
            TypeError, ValueError: a bad ``w`` (:meth:`values`), ``x`` not ``[B, in_size]`` of
                ``w``'s dtype and device.
        """
        values = self.values(w)
        x = check_tensor(x, "x", rank=2, like=w, like_name="w")
        if x.shape[1] != self.shape[1]:
            raise ValueError(f"x: expected shape [B, {self.shape[1]}] (in_size), received "
                             f"{tuple(x.shape)}")
        return apply_scalar(values, x, self.span.pattern())

    def matrix(self, w: Tensor) -> Tensor:
        """The CSR matrix ``M [out_size, in_size]`` (values differentiable in ``w``)."""
        return csr_tensor(self.crow, self.col, self.values(w), self.shape)

    def dense(self, w: Tensor) -> Tensor:
        """``M`` as a dense tensor (for small problems and tests).

        Raises:
            ValueError: a matrix too large for memory, a bad ``w`` (:meth:`values`).
        """
        values = self.values(w)
        check_memory(self.shape[0] * self.shape[1] * w.element_size(), "w", "the dense matrix")
        return csr_tensor(self.crow, self.col, values, self.shape).to_dense()
