"""Expression nodes: signal, parameters, products, sums.

An expression is an immutable tree (a DAG when sub-expressions are shared) whose value is a
tensor ``[*batch, *axes]``. Each node knows its axes, its *self-interaction order*
(how many times the signal enters multiplicatively) and how to print itself as mathematics,
and offers two evaluations: :meth:`Expr.reference`, written for clarity, and
:meth:`Expr.kernel`, the fast closure the compiler uses. Both must agree to rounding.

Order rules (DESIGN.md): ``ord(X) = 1``, ``ord(parameter) = 0``, ``ord(L(u)) = ord(u)`` for a
linear structural map ``L``, ``ord(u·v) = ord(u) + ord(v)``, ``ord(u + v) = max``, and a
pointwise function keeps the order of its argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from prodint.interaction.axes import (
    Axis,
    AxisSpec,
    ProductAlgebra,
    axis_names,
    find_axis,
    make_axes,
    merge_sizes,
)

Kernel = Callable[..., Tensor]


def make_aligner(axes: Sequence[Axis], target: Sequence[str], *,
                 batched: bool = True) -> Callable[[Tensor], Tensor]:
    """A function moving trailing ``axes`` of a value into the order of ``target`` names.

    The value is ``[*batch, *axes]``; the result is ``[*batch, *target]`` with size-1
    dimensions where an axis of ``target`` is missing from ``axes`` (so it broadcasts). The
    permutation and the inserted dimensions are worked out once, here. An unbatched value
    (``batched=False``) needs no size-1 dimensions in front of its first axis: broadcasting
    adds them.
    """
    names = axis_names(axes)
    k = len(names)
    present = [n for n in target if n in names]
    perm = [names.index(n) for n in present]
    index = tuple(slice(None) if n in names else None for n in target)
    if not batched:
        while index and index[0] is None:
            index = index[1:]
    identity_perm = perm == list(range(k))
    no_insert = None not in index
    if identity_perm and no_insert:
        return lambda value: value

    def aligner(value: Tensor) -> Tensor:
        if not identity_perm:
            batch = value.dim() - k
            value = value.permute(*range(batch), *(batch + i for i in perm))
        return value if no_insert else value[(..., *index)]

    return aligner


def align(value: Tensor, axes: Sequence[Axis], target: Sequence[str]) -> Tensor:
    """Move the trailing ``axes`` of ``value`` into the order of ``target`` (see
    :func:`make_aligner`)."""
    return make_aligner(axes, target)(value)


class Expr:
    """Base class of expression nodes.

    Attributes:
        axes: the named axes of the value (after any batch dimensions).
        children: the operand expressions.
    """

    axes: tuple[Axis, ...]
    children: tuple[Expr, ...] = ()

    # ------------------------------------------------------------- structure
    @property
    def self_interaction_order(self) -> int:
        """How many times the signal enters multiplicatively (see module doc)."""
        raise NotImplementedError

    @property
    def has_batch(self) -> bool:
        """Whether the value carries batch dimensions (it depends on a signal)."""
        return any(c.has_batch for c in self.children)

    @property
    def axis_names(self) -> tuple[str, ...]:
        return axis_names(self.axes)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        """The same node over new children (used by substitution)."""
        raise NotImplementedError

    def walk(self) -> list[Expr]:
        """Every node once, children before parents."""
        seen: dict[int, Expr] = {}

        def visit(node: Expr) -> None:
            if id(node) in seen:
                return
            for c in node.children:
                visit(c)
            seen[id(node)] = node

        visit(self)
        return list(seen.values())

    def parameters(self) -> list[Parameter]:
        """Distinct parameter leaves in order of first appearance."""
        out: dict[str, Parameter] = {}
        for node in self.walk():
            if isinstance(node, Parameter):
                prev = out.setdefault(node.name, node)
                if prev is not node and prev.axes != node.axes:
                    raise ValueError(f"parameter {node.name!r}: used with axes {prev.axes} and "
                                     f"{node.axes}; expected one shape per name")
        return list(out.values())

    def signals(self) -> list[Signal]:
        """Distinct signal leaves in order of first appearance."""
        out: dict[str, Signal] = {}
        for node in self.walk():
            if isinstance(node, Signal):
                out.setdefault(node.name, node)
        return list(out.values())

    def substitute(self, parameter: Parameter | str, replacement: Expr) -> Expr:
        """Replace every occurrence of ``parameter`` by ``replacement`` (substitution principle).

        The replacement must carry the parameter's axes (same names, sizes and algebras, in any
        order); it may carry more (e.g. positions: a data-dependent filter differs from place
        to place), which then broadcast through the parents. Parents are rebuilt, so their
        shape checks run again, and the order grows by ``ord(replacement)`` wherever the
        parameter entered a product.
        """
        name = parameter.name if isinstance(parameter, Parameter) else parameter
        targets = [p for p in self.parameters() if p.name == name]
        if not targets:
            raise ValueError(f"parameter: expected one of "
                             f"{[p.name for p in self.parameters()]}, received {name!r}")
        target = targets[0]
        if not isinstance(replacement, Expr):
            raise TypeError(f"replacement: expected an Expr, received {type(replacement).__name__}")
        if any(a not in replacement.axes for a in target.axes):
            raise ValueError(f"replacement: expected axes {list(target.axes)} (those of "
                             f"{name}), received {list(replacement.axes)}")
        memo: dict[int, Expr] = {}

        def rebuild(node: Expr) -> Expr:
            if id(node) in memo:
                return memo[id(node)]
            if isinstance(node, Parameter) and node.name == name:
                new = replacement
            elif node.children:
                kids = [rebuild(c) for c in node.children]
                same = all(k is c for k, c in zip(kids, node.children, strict=True))
                new = node if same else node.rebuild(kids)
            else:
                new = node
            memo[id(node)] = new
            return new

        return rebuild(self)

    # ------------------------------------------------------------- evaluation
    def reference(self, *values: Tensor) -> Tensor:
        """The value from the children's values, written for clarity (the reference)."""
        raise NotImplementedError

    def kernel(self) -> Kernel:
        """A fast closure ``f(*child_values) -> value``; defaults to :meth:`reference`."""
        return self.reference

    # ------------------------------------------------------------- sugar
    def __add__(self, other: Expr) -> Expr:
        return Sum(self, other)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self} : [{', '.join(map(repr, self.axes))}] " \
               f"order {self.self_interaction_order}>"


class Signal(Expr):
    """The input ``X``: an element of (structural algebra) ⊗ (feature algebra). Order 1.

    Inputs that are not the signal but arrive with it, such as attention masks or an initial
    state, are signals of order 0 (``order=0``): they vary per call but do not carry ``X``.
    """

    def __init__(self, name: str, axes: Sequence[AxisSpec], *, order: int = 1):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"name: expected an identifier, received {name!r}")
        if order not in (0, 1):
            raise ValueError(f"order: expected 0 (side input) or 1 (signal), received {order!r}")
        self.name = name
        self.axes = make_axes(axes)
        self.order = order

    @property
    def self_interaction_order(self) -> int:
        return self.order

    @property
    def has_batch(self) -> bool:
        return True

    def __str__(self) -> str:
        return self.name


INITS = ("normal", "zeros", "ones", "uniform")


class Parameter(Expr):
    """A learnable tensor (an algebra element or a linear map's weights). Order 0.

    Initialisation ``normal`` (default) draws ``N(0, 1/fan_in)``, which preserves variance:
    if ``y = Σ_{fan_in} w x`` with independent unit-variance ``x``, then ``Var(y) = 1``.
    ``fan_in`` names the axes summed against the signal (default: every axis but the last,
    so ``W[c, o]`` mapping ``c → o`` has fan-in ``|c|``; a 1-axis parameter has fan-in 1).
    ``uniform`` draws ``U(-1/√fan_in, 1/√fan_in)``; ``zeros``/``ones`` are constants.
    """

    def __init__(self, name: str, axes: Sequence[AxisSpec], *, init: str = "normal",
                 fan_in: Sequence[str] | None = None):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"name: expected an identifier, received {name!r}")
        if init not in INITS:
            raise ValueError(f"init: expected one of {INITS}, received {init!r}")
        self.name = name
        self.axes = make_axes(axes)
        for a in self.axes:
            if a.size is None:
                raise ValueError(f"axes: parameter {name!r} needs fixed sizes, axis {a.name!r} "
                                 "is free")
        names = self.axis_names
        self.fan_in = tuple(fan_in) if fan_in is not None else names[:-1]
        for n in self.fan_in:
            find_axis(self.axes, n, argument="fan_in", owner=f"parameter {name!r}")
        self.init = init

    @property
    def self_interaction_order(self) -> int:
        return 0

    @property
    def has_batch(self) -> bool:
        return False

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)  # type: ignore[misc]

    def initial_value(self, *, dtype: torch.dtype | None = None,
                      generator: torch.Generator | None = None) -> Tensor:
        """A freshly initialised tensor of :attr:`shape` (see class doc)."""
        fan = math.prod(a.size for a in self.axes if a.name in self.fan_in)  # type: ignore[misc]
        if self.init == "zeros":
            return torch.zeros(self.shape, dtype=dtype)
        if self.init == "ones":
            return torch.ones(self.shape, dtype=dtype)
        if self.init == "uniform":
            bound = 1.0 / math.sqrt(fan)
            return (torch.rand(self.shape, dtype=dtype, generator=generator) * 2 - 1) * bound
        return torch.randn(self.shape, dtype=dtype, generator=generator) / math.sqrt(fan)

    def __str__(self) -> str:
        return self.name


class Product(Expr):
    """``(u ·_A v)``: the algebra product over one axis, other axes batched or broadcast.

    Both operands carry an axis called ``axis`` of size ``dim(A)`` (typed by ``A`` or untyped);
    ``(u·v)_c = Σ_{a,b} Γ[a,b,c] u_a v_b`` at every position of the other axes. Axes shared by
    name are batched (equal sizes), the others broadcast. The result has ``u``'s axes followed
    by ``v``'s that ``u`` lacks.
    """

    def __init__(self, left: Expr, right: Expr, algebra: ProductAlgebra, axis: str):
        if not isinstance(algebra, ProductAlgebra):
            raise TypeError(f"algebra: expected an algebra, received {type(algebra).__name__}")
        for side, operand in (("left", left), ("right", right)):
            if not isinstance(operand, Expr):
                raise TypeError(f"{side}: expected an Expr, received {type(operand).__name__}")
            i = find_axis(operand.axes, axis, argument="axis", owner=f"the {side} operand")
            ax = operand.axes[i]
            if ax.algebra is not None and not _same(ax.algebra, algebra):
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
    """

    def __init__(self, left: Expr, right: Expr, over: str | Sequence[str]):
        over = (over,) if isinstance(over, str) else tuple(over)
        for side, operand in (("left", left), ("right", right)):
            if not isinstance(operand, Expr):
                raise TypeError(f"{side}: expected an Expr, received {type(operand).__name__}")
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
        return (x * y).sum(dim=dims)

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
            a = a.reshape(*a.shape[:lead_a], math.prod(ls), -1)
            b = b.reshape(*b.shape[:lead_b], -1, math.prod(rs))
            out = a @ b
            return restore(out.reshape(*out.shape[:-2], *ls, *rs))

        return contract


class Sum(Expr):
    """``u + v + …``: order ``max``; terms may lack axes of the first (they broadcast)."""

    def __init__(self, *terms: Expr):
        if len(terms) < 2:
            raise ValueError(f"terms: expected at least 2 terms, received {len(terms)}")
        axes = terms[0].axes
        for i, t in enumerate(terms[1:], 1):
            if not isinstance(t, Expr):
                raise TypeError(f"terms[{i}]: expected an Expr, received {type(t).__name__}")
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


def _same(a: ProductAlgebra, b: ProductAlgebra) -> bool:
    from prodint.interaction.axes import same_algebra

    return same_algebra(a, b)


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
