"""Linear layers as parametric spans (Bergomi and Vertechi).

A span ``X <-s- E -t-> Y`` with a parameter map ``pi: E -> W`` and weights ``nu: E -> R`` is the
linear layer

    y[..., t_e] += nu_e * w[pi_e] * x[..., s_e]                 (scalar form, w [param_size])
    y[..., t_e, :] += nu_e * x[..., s_e, :] @ w[pi_e]           (block form,
                                                                 w [param_size, c_in, c_out])

summed over the elements ``e`` of ``E``. ``X``, ``Y`` and ``W`` are index sets of sizes
``in_size``, ``out_size`` and ``param_size``; ``s``, ``t`` and ``pi`` are int64 tensors of
length ``|E|``. Its derivatives are the same span with its legs permuted (see
:mod:`prodint.spans.autograd`); its adjoint in ``x`` swaps source and target
(:meth:`Span.transpose`), and two spans compose over the pullback ``E1 x_Y E2``
(:meth:`Span.compose`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from prodint.checks import (
    FLOATING,
    check_instance,
    check_int,
    check_memory,
    check_same_device,
    check_tensor,
)
from prodint.spans.autograd import (
    Pattern,
    apply_grouped,
    apply_scalar,
    csr_tensor,
    span_function,
)

__all__ = ["Span"]

_INDEX = (torch.int64,)


def _check_indices(value: object, argument: str, length: int | None, size: int,
                   size_name: str) -> Tensor:
    """``value`` as an int64 tensor ``[E]`` with every entry in ``[0, size)``."""
    index = check_tensor(value, argument, rank=1, layout="[E]", dtypes=_INDEX)
    if length is not None and index.shape[0] != length:
        raise ValueError(f"{argument}: expected shape [{length}] (the length of source), "
                         f"received {tuple(index.shape)}")
    if index.numel():
        low, high = int(index.min()), int(index.max())
        if low < 0 or high >= size:
            bad = low if low < 0 else high
            raise ValueError(f"{argument}: expected indices in [0, {size}) ({size_name} = "
                             f"{size}), received {bad}")
    return index


class Span:
    """The parametric span ``X <-source- E -target-> Y`` with ``param: E -> W`` and weights.

    ``span(w, x)`` computes ``y[..., t_e] += nu_e * w[pi_e] * x[..., s_e]`` summed over ``e``
    (scalar form: ``w [param_size]``, ``x [..., in_size]`` -> ``y [..., out_size]``), or with
    blocks ``y[..., t_e, :] += nu_e * x[..., s_e, :] @ w[pi_e]`` (``w [param_size, c_in,
    c_out]``, ``x [..., in_size, c_in]`` -> ``y [..., out_size, c_out]``), batched over the
    leading dims of ``x``.

    Args:
        source: int64 ``[E]``, ``s_e`` in ``[0, in_size)``.
        target: int64 ``[E]``, ``t_e`` in ``[0, out_size)``.
        param: int64 ``[E]``, ``pi_e`` in ``[0, param_size)``.
        weight: floating ``[E]`` (``nu_e``), or ``None`` for all ones.
        in_size, out_size, param_size: the sizes of ``X``, ``Y`` and ``W``.

    Raises:
        TypeError: a tensor of the wrong kind or dtype, a size that is not an int.
        ValueError: lengths that differ, an index out of range, tensors on different devices.
    """

    def __init__(self, source: Tensor, target: Tensor, param: Tensor, weight: Tensor | None,
                 in_size: int, out_size: int, param_size: int) -> None:
        self.in_size = check_int(in_size, "in_size", minimum=0)
        self.out_size = check_int(out_size, "out_size", minimum=0)
        self.param_size = check_int(param_size, "param_size", minimum=0)
        for name, index in (("source", source), ("target", target), ("param", param)):
            check_tensor(index, name, rank=1, layout="[E]", dtypes=_INDEX)
        if weight is not None:
            check_tensor(weight, "weight", rank=1, layout="[E]", dtypes=FLOATING)
        check_same_device(source=source, target=target, param=param, weight=weight)
        self.source = _check_indices(source, "source", None, self.in_size, "in_size")
        length = self.source.shape[0]
        self.target = _check_indices(target, "target", length, self.out_size, "out_size")
        self.param = _check_indices(param, "param", length, self.param_size, "param_size")
        if weight is not None and weight.shape[0] != length:
            raise ValueError(f"weight: expected shape [{length}] (the length of source), "
                             f"received {tuple(weight.shape)}")
        self.weight = weight
        self._patterns: dict[str, Pattern] = {}

    # ------------------------------------------------------------------ properties
    @property
    def size(self) -> int:
        """``|E|``, the number of elements of the span."""
        return int(self.source.shape[0])

    @property
    def device(self) -> torch.device:
        """The device of the index tensors."""
        return self.source.device

    @property
    def dtype(self) -> torch.dtype | None:
        """The dtype of the weights, or ``None`` when they are implicit ones."""
        return None if self.weight is None else self.weight.dtype

    def __repr__(self) -> str:
        weight = "ones" if self.weight is None else str(self.weight.dtype).removeprefix("torch.")
        return (f"Span(in_size={self.in_size}, out_size={self.out_size}, "
                f"param_size={self.param_size}, size={self.size}, weight={weight}, "
                f"device={self.device})")

    # ------------------------------------------------------------------ application
    def _weights(self, like: Tensor) -> Tensor:
        """``nu`` (ones when implicit), which must have ``like``'s dtype: a span with
        float32 weights is not silently applied to float64 parameters."""
        if self.weight is None:
            return like.new_ones(self.size)
        if self.weight.dtype != like.dtype:
            raise TypeError(f"weight: expected dtype {like.dtype} (that of w), received "
                            f"{self.weight.dtype}")
        return self.weight

    def _check_w(self, w: object) -> Tensor:
        w = check_tensor(w, "w", rank=(1, 3), layout="[param_size] or [param_size, c_in, c_out]")
        if w.shape[0] != self.param_size:
            raise ValueError(f"w: expected shape [{self.param_size}] or [{self.param_size}, "
                             f"c_in, c_out] (param_size = {self.param_size}), received "
                             f"{tuple(w.shape)}")
        if w.device != self.device:
            raise ValueError(f"w: expected a tensor on {self.device} (that of the span), "
                             f"received one on {w.device}")
        return w

    def __call__(self, w: Tensor, x: Tensor) -> Tensor:
        """Apply the span: ``y = span(w, x)`` (see the class docstring for the shapes).

        Raises:
            TypeError: ``w`` or ``x`` not a floating tensor, or of different dtypes.
            ValueError: a shape that does not match the span or ``w``, another device.
        """
        w = self._check_w(w)
        if w.dim() == 1:
            x = check_tensor(x, "x", like=w, like_name="w")
            if x.dim() < 1 or x.shape[-1] != self.in_size:
                raise ValueError(f"x: expected shape [..., {self.in_size}] (in_size = "
                                 f"{self.in_size}), received {tuple(x.shape)}")
            lead = x.shape[:-1]
            flat = x.reshape(math.prod(lead), self.in_size)  # -1 is undetermined for 0 sizes
            tail: tuple[int, ...] = (self.out_size,)
        else:
            x = check_tensor(x, "x", like=w, like_name="w")
            c_in, c_out = w.shape[1], w.shape[2]
            if x.dim() < 2 or x.shape[-2] != self.in_size or x.shape[-1] != c_in:
                raise ValueError(f"x: expected shape [..., {self.in_size}, {c_in}] (in_size, "
                                 f"c_in of w), received {tuple(x.shape)}")
            lead = x.shape[:-2]
            flat = x.reshape(math.prod(lead), self.in_size, c_in)
            tail = (self.out_size, c_out)
        width = w.shape[1] + w.shape[2] if w.dim() == 3 else 1
        blocks = self.size * w[0].numel() if w.dim() == 3 and self.param_size else 0
        check_memory((flat.shape[0] * (self.size * width + math.prod(tail)) + blocks)
                     * w.element_size(), "x", "the gathered messages of the span")
        nu = None if self.weight is None else self._weights(w)
        if w.dim() == 1:
            pattern = self._pattern("scalar")
            y = apply_scalar(pattern.entries(w, nu, w), flat, pattern)
        elif self.out_size * self.param_size <= 2 * self.size:
            pattern = self._pattern("grouped")
            y = apply_grouped(pattern.entries(w, nu, None), w, flat, pattern, self.out_size)
        else:
            y = span_function(w, flat, self._weights(w), self.source, self.target, self.param,
                              self.in_size, self.out_size)
        return y.reshape(*lead, *tail)

    def _pattern(self, kind: str) -> Pattern:
        """The sparse layout of the span (``"scalar"``: rows ``t``, columns ``s``) or of the
        span onto the pairs (``"grouped"``: rows ``pi * out_size + t``); computed on first use
        and kept (as ordinary tensors, even when that use is under inference mode)."""
        if kind not in self._patterns:
            rows, n_rows = self.target, self.out_size
            if kind == "grouped":
                rows, n_rows = self.param * n_rows + rows, n_rows * self.param_size
            with torch.inference_mode(False):
                self._patterns[kind] = Pattern.of(rows, self.source, self.param, n_rows,
                                                  self.in_size)
        return self._patterns[kind]

    def pattern(self) -> Pattern:
        """The CSR layout of the span's matrix ``M [out_size, in_size]`` (scalar form): the
        distinct ``(target, source)`` pairs row-major, the entry each element adds into."""
        return self._pattern("scalar")

    def to_sparse(self, w: Tensor) -> Tensor:
        """``M`` as a CSR tensor (``M[t_e, s_e] += nu_e * w[pi_e]``, scalar form), its values
        differentiable in ``w`` and ``weight``: ``span(w, x) == (M @ x.T).T``.

        Raises:
            TypeError, ValueError: ``w`` as for :meth:`to_dense`.
        """
        w = self._check_w(w)
        if w.dim() != 1:
            raise ValueError(f"w: expected shape [{self.param_size}] (to_sparse takes the "
                             f"scalar form), received {tuple(w.shape)}")
        nu = None if self.weight is None else self._weights(w)
        pattern = self.pattern()
        return csr_tensor(pattern.crow, pattern.col, pattern.entries(w, nu, w), pattern.shape)

    def to_dense(self, w: Tensor) -> Tensor:
        """The matrix ``M [out_size, in_size]`` with ``M[t_e, s_e] += nu_e * w[pi_e]`` (scalar
        form), so that ``span(w, x) == x @ M.T``; differentiable in ``w`` and ``weight``."""
        w = self._check_w(w)
        if w.dim() != 1:
            raise ValueError(f"w: expected shape [{self.param_size}] (to_dense takes the "
                             f"scalar form), received {tuple(w.shape)}")
        check_memory(self.out_size * self.in_size * w.element_size(), "w", "the dense matrix")
        values = self._weights(w) * w.index_select(0, self.param)
        flat = w.new_zeros(self.out_size * self.in_size)
        flat = flat.index_add(0, self.target * self.in_size + self.source, values)
        return flat.reshape(self.out_size, self.in_size)

    # ------------------------------------------------------------------ algebra of spans
    def transpose(self) -> Span:
        """The adjoint in ``x``: source and target swapped, ``in_size`` and ``out_size`` too,
        so that ``<span(w, x), y> == <x, span.transpose()(w, y)>`` (scalar form; in block form
        with ``w.transpose(1, 2)``)."""
        return Span(self.target, self.source, self.param, self.weight, self.out_size,
                    self.in_size, self.param_size)

    def compose(self, other: Span) -> Span:
        """``self`` then ``other``: the span over the pullback ``E1 x_Y E2 = {(e1, e2) :
        t1[e1] == s2[e2]}``, with source ``s1[e1]``, target ``t2[e2]``, parameter
        ``pi1[e1] * other.param_size + pi2[e2]`` (``param_size`` the product) and weight
        ``nu1[e1] * nu2[e2]``. In scalar form ``composed(outer(w1, w2).flatten(), x) ==
        other(w2, self(w1, x))``; in block form the pair's block is ``w1[p1] @ w2[p2]``.

        Raises:
            TypeError: ``other`` is not a Span.
            ValueError: ``other.in_size != self.out_size``, another device, or a pullback
                too large for memory.
        """
        other = check_instance(other, "other", Span)
        if other.in_size != self.out_size:
            raise ValueError(f"other: expected a span with in_size {self.out_size} (the "
                             f"out_size of this span), received in_size {other.in_size}")
        if other.device != self.device:
            raise ValueError(f"other: expected a span on {self.device}, received one on "
                             f"{other.device}")
        if self.weight is not None and other.weight is not None and \
                other.weight.dtype != self.weight.dtype:
            raise TypeError(f"other: expected a span with weights of dtype "
                            f"{self.weight.dtype} (those of this span), received "
                            f"{other.weight.dtype}")
        middle = self.out_size
        counts = torch.bincount(other.source, minlength=middle)       # |s2^-1(y)|
        starts = torch.cumsum(counts, 0) - counts
        order = torch.argsort(other.source, stable=True)             # e2 grouped by s2
        per_e1 = counts.index_select(0, self.target)                 # pairs for each e1
        pairs = int(per_e1.sum())
        check_memory(pairs * 8 * 5, "other", "the pullback of the two spans")
        e1 = torch.repeat_interleave(torch.arange(self.size, device=self.device), per_e1)
        offset = torch.arange(pairs, device=self.device) - \
            torch.repeat_interleave(torch.cumsum(per_e1, 0) - per_e1, per_e1)
        e2 = order.index_select(0, starts.index_select(0, self.target.index_select(0, e1))
                                + offset)
        weight = self._pair_weight(other, e1, e2)
        return Span(self.source.index_select(0, e1), other.target.index_select(0, e2),
                    self.param.index_select(0, e1) * other.param_size
                    + other.param.index_select(0, e2), weight, self.in_size,
                    other.out_size, self.param_size * other.param_size)

    def _pair_weight(self, other: Span, e1: Tensor, e2: Tensor) -> Tensor | None:
        if self.weight is None and other.weight is None:
            return None
        if self.weight is None:
            assert other.weight is not None
            return other.weight.index_select(0, e2)
        if other.weight is None:
            return self.weight.index_select(0, e1)
        return self.weight.index_select(0, e1) * other.weight.index_select(0, e2)
