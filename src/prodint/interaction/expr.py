"""Expression nodes: the base class, the signal and parameters (products are in
:mod:`prodint.interaction.products`).

An expression is an immutable tree (a DAG when sub-expressions are shared) whose value is a
tensor ``[*batch, *axes]``. Each node knows its axes, its *self-interaction order*
(how many times the signal enters multiplicatively) and how to print itself as mathematics,
and offers two evaluations: :meth:`Expr.reference`, written for clarity, and
:meth:`Expr.kernel`, the fast closure the compiler uses. Both must agree to rounding.

Order rules: ``ord(X) = 1``, ``ord(parameter) = 0``, ``ord(L(u)) = ord(u)`` for a
linear structural map ``L``, ``ord(u·v) = ord(u) + ord(v)``, ``ord(u + v) = max``, and a
pointwise function keeps the order of its argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from prodint.checks import check_choice, check_int, check_name, check_names, describe
from prodint.interaction.arguments import check_parameter_size
from prodint.interaction.axes import (
    Axis,
    AxisSpec,
    axis_names,
    find_axis,
    make_axes,
)

Kernel = Callable[..., Tensor]


def check_expr(value: object, argument: str, *, optional: bool = False) -> Expr:
    """``value`` as an expression (``None`` too when ``optional``): the operand check of
    every node constructor.

    Raises:
        TypeError: ``value`` is not an :class:`Expr`.
    """
    if isinstance(value, Expr) or (optional and value is None):
        return value  # type: ignore[return-value]
    wanted = "an Expr or None" if optional else "an Expr"
    raise TypeError(f"{argument}: expected {wanted}, received {describe(value)}")


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

    def __init_subclass__(cls, **kwargs: object) -> None:
        # Nodes are immutable, so each node's order is computed once: a shared
        # sub-expression (a residual stream read by q, k, v and the skip in every block of a
        # deep model) is otherwise recounted along every path, exponential in the depth
        # (an 8-block language model took minutes).
        super().__init_subclass__(**kwargs)
        rule = cls.__dict__.get("self_interaction_order")
        if isinstance(rule, property) and rule.fget is not None:
            compute = rule.fget

            def memoised(self: Expr) -> int:
                orders = self.__dict__.setdefault("_orders", {})
                if cls not in orders:
                    orders[cls] = compute(self)
                return orders[cls]

            cls.self_interaction_order = property(memoised, doc=rule.__doc__)  # type: ignore

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
        name = parameter.name if isinstance(parameter, Parameter) else \
            check_name(parameter, "parameter")
        targets = [p for p in self.parameters() if p.name == name]
        if not targets:
            raise ValueError(f"parameter: expected one of "
                             f"{[p.name for p in self.parameters()]}, received {name!r}")
        target = targets[0]
        check_expr(replacement, "replacement")
        if any(a not in replacement.axes for a in target.axes):
            raise ValueError(f"replacement: expected axes {list(target.axes)} (those of "
                             f"{name}), received {list(replacement.axes)}")
        return replace_nodes(self, lambda node: replacement if isinstance(node, Parameter)
                             and node.name == name else None)

    # ------------------------------------------------------------- evaluation
    def reference(self, *values: Tensor) -> Tensor:
        """The value from the children's values, written for clarity (the reference)."""
        raise NotImplementedError

    def kernel(self) -> Kernel:
        """A fast closure ``f(*child_values) -> value``; defaults to :meth:`reference`."""
        return self.reference

    # ------------------------------------------------------------- sugar
    def __add__(self, other: Expr) -> Expr:
        from prodint.interaction.products import Sum

        return Sum(self, other)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self} : [{', '.join(map(repr, self.axes))}] " \
               f"order {self.self_interaction_order}>"


def replace_nodes(expr: Expr, replace: Callable[[Expr], Expr | None]) -> Expr:
    """``expr`` rebuilt with every node ``n`` for which ``replace(n)`` is an expression put in
    its place. Shared sub-expressions stay shared, untouched subtrees are kept as they are and
    the parents of a replacement are rebuilt (:meth:`Expr.rebuild`), so their checks run
    again."""
    memo: dict[int, Expr] = {}

    def rebuild(node: Expr) -> Expr:
        if id(node) not in memo:
            new = replace(node)
            if new is None and node.children:
                kids = [rebuild(c) for c in node.children]
                same = all(k is c for k, c in zip(kids, node.children, strict=True))
                new = node if same else node.rebuild(kids)
            memo[id(node)] = node if new is None else new
        return memo[id(node)]

    return rebuild(expr)


class Signal(Expr):
    """The input ``X``: an element of (structural algebra) ⊗ (feature algebra). Order 1.

    Inputs that are not the signal but arrive with it, such as attention masks or an initial
    state, are signals of order 0 (``order=0``): they vary per call but do not carry ``X``.

    Raises:
        TypeError: a name that is not a str, malformed axes, an order that is not an int.
        ValueError: a name that is not an identifier, bad axes, an order other than 0 or 1.
    """

    def __init__(self, name: str, axes: Sequence[AxisSpec], *, order: int = 1):
        self.name = check_name(name, "name")
        self.axes = make_axes(axes)
        self.order = check_int(order, "order", minimum=0, maximum=1)

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

    Raises:
        TypeError: a name or a ``fan_in`` entry that is not a str, malformed axes.
        ValueError: a name that is not an identifier, an unknown ``init``, a free axis, a
            ``fan_in`` name that is not an axis, or a tensor whose float64 entries would not
            fit in memory (:func:`prodint.checks.memory_limit`; checked before any draw).
    """

    def __init__(self, name: str, axes: Sequence[AxisSpec], *, init: str = "normal",
                 fan_in: Sequence[str] | None = None):
        self.name = check_name(name, "name")
        check_choice(init, "init", INITS)
        self.axes = make_axes(axes)
        for a in self.axes:
            if a.size is None:
                raise ValueError(f"axes: parameter {name!r} needs fixed sizes, axis {a.name!r} "
                                 "is free")
        check_parameter_size(self.shape, "axes", f"parameter {name!r}")
        names = self.axis_names
        self.fan_in = check_names(fan_in, "fan_in") if fan_in is not None else names[:-1]
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
