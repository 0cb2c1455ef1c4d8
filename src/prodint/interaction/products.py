"""Bilinear nodes and sums: the product in an algebra, the tensor-algebra contraction, sums.

``ord(u·v) = ord(u) + ord(v)`` for :class:`Product` and :class:`Contract`;
``ord(u + v) = max`` for :class:`Sum`. Each node's ``reference`` is written for clarity and
its ``kernel`` is the fast closure the compiler uses (aligners and matmul plans worked out
once).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.checks import check_names
from prodint.interaction.axes import (
    Axis,
    ProductAlgebra,
    axis_names,
    check_algebra,
    find_axis,
    merge_sizes,
    same_algebra,
)
from prodint.interaction.expr import Expr, Kernel, align, check_expr, make_aligner


class Product(Expr):
    """``(u ·_A v)``: the algebra product over one axis, other axes batched or broadcast.

    Both operands carry an axis called ``axis`` of size ``dim(A)`` (typed by ``A`` or untyped);
    ``(u·v)_c = Σ_{a,b} Γ[a,b,c] u_a v_b`` at every position of the other axes. Axes shared by
    name are batched (equal sizes), the others broadcast. The result has ``u``'s axes followed
    by ``v``'s that ``u`` lacks.

    Raises:
        TypeError: an operand that is not an expression, an algebra that is not one, an axis
            name that is not a str.
        ValueError: an axis missing from an operand, of another size or algebra.
    """

    def __init__(self, left: Expr, right: Expr, algebra: ProductAlgebra, axis: str):
        check_expr(left, "left")
        check_expr(right, "right")
        check_algebra(algebra, "algebra")
        for side, operand in (("left", left), ("right", right)):
            i = find_axis(operand.axes, axis, argument="axis", owner=f"the {side} operand")
            ax = operand.axes[i]
            if ax.algebra is not None and not same_algebra(ax.algebra, algebra):
                raise ValueError(f"{side}: axis {axis!r} holds elements of {ax.algebra.name}; "
                                 f"expected {algebra.name} for this product")
            if ax.size is not None and ax.size != algebra.dim:
                raise ValueError(f"{side}: axis {axis!r} has size {ax.size}; expected "
                                 f"{algebra.dim} = dim({algebra.name})")
        self.algebra = algebra
        self.axis = axis
        self.children = (left, right)
        self.axes = _union_axes(left.axes, right.axes, argument="right", typed={axis: algebra})

    @property
    def self_interaction_order(self) -> int:
        return sum(c.self_interaction_order for c in self.children)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Product(children[0], children[1], self.algebra, self.axis)

    def __str__(self) -> str:
        return f"({self.children[0]} ·_{self.algebra.name} {self.children[1]})"

    def _aligned(self, u: Tensor, v: Tensor) -> tuple[Tensor, Tensor, list[str]]:
        order = [n for n in self.axis_names if n != self.axis] + [self.axis]
        left, right = self.children
        return align(u, left.axes, order), align(v, right.axes, order), order

    def _restore(self, out: Tensor, order: list[str]) -> Tensor:
        k = len(order)
        src = out.dim() - k + order.index(self.axis)
        dst = out.dim() - k + self.axis_names.index(self.axis)
        return out.movedim(src, dst) if src != dst else out

    def reference(self, u: Tensor, v: Tensor) -> Tensor:
        x, y, order = self._aligned(u, v)
        x, y = torch.broadcast_tensors(x, y)
        gamma = self.algebra.structure_constants.to(x.dtype)
        out = torch.einsum("...a,...b,abc->...c", x, y, gamma)
        return self._restore(out, order)

    def kernel(self) -> Kernel:
        order = [n for n in self.axis_names if n != self.axis] + [self.axis]
        left, right = self.children
        align_u = make_aligner(left.axes, order, batched=left.has_batch)
        align_v = make_aligner(right.axes, order, batched=right.has_batch)
        k = len(order)
        src, dst = order.index(self.axis) - k, self.axis_names.index(self.axis) - k
        # Fixed algebras expose their kernel without per-call checks; learned ones multiply.
        make = getattr(self.algebra, "product_kernel", None)
        mul = make() if make is not None else self.algebra.mul

        def product(u: Tensor, v: Tensor) -> Tensor:
            out = mul(align_u(u), align_v(v))
            return out if src == dst else out.movedim(src, dst)

        return product


class Contract(Expr):
    """``Σ_{over} u v``: the product in the tensor algebra followed by a trace.

    Axes named in ``over`` (present in both operands) are summed; other shared axes are batched;
    the rest form an outer product. A dense layer is ``Contract(X[t,c], W[c,o], over="c")``,
    attention scores ``Contract(Q[t,d], K[s,d], over="d")``. The result has ``u``'s remaining
    axes followed by ``v``'s that ``u`` lacks.

    Raises:
        TypeError: an operand that is not an expression, ``over`` not a name or names.
        ValueError: a summed axis missing from an operand, shared axes of unequal sizes.
    """

    def __init__(self, left: Expr, right: Expr, over: str | Sequence[str]):
        check_expr(left, "left")
        check_expr(right, "right")
        over = check_names(over, "over", single=True)
        for side, operand in (("left", left), ("right", right)):
            for n in over:
                find_axis(operand.axes, n, argument="over", owner=f"the {side} operand")
        self.over = over
        self.children = (left, right)
        union = _union_axes(left.axes, right.axes, argument="right")
        self.axes = tuple(a for a in union if a.name not in over)
        self._union = axis_names(union)

    @property
    def self_interaction_order(self) -> int:
        return sum(c.self_interaction_order for c in self.children)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Contract(children[0], children[1], self.over)

    def __str__(self) -> str:
        return f"Σ_{','.join(self.over)} ({self.children[0]} {self.children[1]})"

    def reference(self, u: Tensor, v: Tensor) -> Tensor:
        left, right = self.children
        x = align(u, left.axes, self._union)
        y = align(v, right.axes, self._union)
        k = len(self._union)
        dims = [i - k for i, n in enumerate(self._union) if n in self.over]
        # an empty ``over`` is the tensor product itself (sum(dim=[]) would reduce everything)
        return (x * y).sum(dim=dims) if dims else x * y

    def kernel(self) -> Kernel:
        """A batched matmul: ``u → [*B, L, K]``, ``v → [*B, K, R]``, product, reshape.

        ``B`` are the shared axes kept, ``L``/``R`` the axes of one side only and ``K`` the
        summed ones; leading batch dimensions broadcast as in ``torch.matmul``. The
        permutations are fixed here, so a call is two permutes, a matmul and two reshapes.
        """
        left, right = self.children
        ln, rn = left.axis_names, right.axis_names
        shared = [n for n in ln if n in rn and n not in self.over]
        lonly = [n for n in ln if n not in rn]
        ronly = [n for n in rn if n not in ln]
        align_u = make_aligner(left.axes, shared + lonly + list(self.over),
                               batched=left.has_batch)
        align_v = make_aligner(right.axes, shared + list(self.over) + ronly,
                               batched=right.has_batch)
        union = {a.name: a for a in (*left.axes, *right.axes)}
        restore = make_aligner([union[n] for n in shared + lonly + ronly], self.axis_names)
        nl, nk, nr = len(lonly), len(self.over), len(ronly)
        if nl == nk == nr == 1:  # already [*B, L, K] @ [*B, K, R]: nothing to reshape

            def matmul(u: Tensor, v: Tensor) -> Tensor:
                return restore(align_u(u) @ align_v(v))

            return matmul

        def contract(u: Tensor, v: Tensor) -> Tensor:
            a, b = align_u(u), align_v(v)
            lead_a, lead_b = a.dim() - nl - nk, b.dim() - nk - nr
            ls, rs = a.shape[lead_a:lead_a + nl], b.shape[lead_b + nk:]
            ks = a.shape[lead_a + nl:]
            # every size spelled out: an empty batch leaves -1 undetermined
            a = a.reshape(*a.shape[:lead_a], math.prod(ls), math.prod(ks))
            b = b.reshape(*b.shape[:lead_b], math.prod(ks), math.prod(rs))
            out = a @ b
            return restore(out.reshape(*out.shape[:-2], *ls, *rs))

        return contract


class Sum(Expr):
    """``u + v + …``: order ``max``; terms may lack axes of the first (they broadcast).

    Raises:
        TypeError: a term that is not an expression.
        ValueError: fewer than 2 terms, shared axes of unequal sizes or algebras.
    """

    def __init__(self, *terms: Expr):
        if len(terms) < 2:
            raise ValueError(f"terms: expected at least 2 terms, received {len(terms)}")
        for i, t in enumerate(terms):
            check_expr(t, f"terms[{i}]")
        axes = terms[0].axes
        for i, t in enumerate(terms[1:], 1):
            axes = _union_axes(axes, t.axes, argument=f"terms[{i}]")
        self.children = tuple(terms)
        self.axes = axes

    @property
    def self_interaction_order(self) -> int:
        return max(c.self_interaction_order for c in self.children)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Sum(*children)

    def __str__(self) -> str:
        return "(" + " + ".join(str(c) for c in self.children) + ")"

    def reference(self, *values: Tensor) -> Tensor:
        out = align(values[0], self.children[0].axes, self.axis_names)
        for c, v in zip(self.children[1:], values[1:], strict=True):
            out = out + align(v, c.axes, self.axis_names)
        return out

    def kernel(self) -> Kernel:
        aligners = [make_aligner(c.axes, self.axis_names, batched=c.has_batch)
                    for c in self.children]

        def total(*values: Tensor) -> Tensor:
            out = aligners[0](values[0])
            for aligner, v in zip(aligners[1:], values[1:], strict=True):
                out = out + aligner(v)
            return out

        return total


def _union_axes(left: Sequence[Axis], right: Sequence[Axis], *, argument: str,
                typed: dict[str, ProductAlgebra] | None = None) -> tuple[Axis, ...]:
    rnames = axis_names(right)
    out: list[Axis] = []
    for a in left:
        ax = merge_sizes(a, right[rnames.index(a.name)], argument=argument) \
            if a.name in rnames else a
        if typed and a.name in typed:
            ax = Axis(ax.name, ax.size, typed[a.name])
        out.append(ax)
    lnames = axis_names(left)
    out.extend(b for b in right if b.name not in lnames)
    return tuple(out)
