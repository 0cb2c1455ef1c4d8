"""Coordinate maps between a value and its components: :class:`Select` (one coordinate of an
axis) and :class:`Stack` (several values along a new axis).

Linear coordinate maps, order-preserving like those of
:mod:`prodint.interaction.structural`; an LSTM (:mod:`prodint.interaction.recurrence`) uses
them to carry its pair ``(h, c)`` as one state with a component axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.checks import check_int, check_name, describe
from prodint.interaction import index_map as im
from prodint.interaction.axes import Axis, find_axis, merge_sizes
from prodint.interaction.expr import Expr, align, check_expr
from prodint.interaction.recurrence import check_same_axes

__all__ = ["Select", "Stack"]


class Select(Expr):
    """``u[..., i, ...]``: coordinate ``index`` of axis ``axis``, which disappears.

    A negative ``index`` counts from the end (``-1`` is the last coordinate), also along a free
    axis: ``Select(rec, "t", -1)`` is a recurrence's final state. A coordinate projection:
    linear, so ``ord(Select(u)) = ord(u)``. Value ``[*batch, *axes of u without axis]``.
    """

    def __init__(self, child: Expr, axis: str, index: int):
        check_expr(child, "child")
        i = find_axis(child.axes, axis, argument="axis", owner="the operand")
        size = child.axes[i].size
        check_int(index, "index")
        if size is not None and not -size <= index < size:
            raise ValueError(f"index: expected {-size} ≤ index < {size} (axis {axis!r}), "
                             f"received {index!r}")
        self.children = (child,)
        self.axis, self.index = axis, index
        self.axes = tuple(a for a in child.axes if a.name != axis)

    @property
    def self_interaction_order(self) -> int:
        return self.children[0].self_interaction_order

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Select(children[0], self.axis, self.index)

    def __str__(self) -> str:
        return f"{self.children[0]}[{self.axis}={self.index}]"

    def reference(self, u: Tensor) -> Tensor:
        names = self.children[0].axis_names
        d = names.index(self.axis) - len(names)
        size = u.shape[d]
        if not -size <= self.index < size:  # a free axis: its length is known now
            raise ValueError(f"index: expected {-size} ≤ index < {size} (the length of axis "
                             f"{self.axis!r}), received {self.index}")
        return u.select(d, self.index)

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """``y[...] = u[..., index, ...]`` (the axis disappears)."""
        d = self.children[0].axis_names.index(self.axis)
        n = sizes[d]
        if not -n <= self.index < n:
            raise ValueError(f"index: expected {-n} ≤ index < {n} (the length of axis "
                             f"{self.axis!r}), received {self.index}")
        return im.along_axis(sizes, d, torch.tensor([self.index % n]),
                             (*sizes[:d], *sizes[d + 1:]))


class Stack(Expr):
    """``[u_0, …, u_{k-1}]`` along a new leading axis ``axis`` of size ``k``.

    The terms carry the same axes (names and sizes, any order); the value is
    ``[*batch, axis, *axes of the first term]``, batch dimensions broadcast. Linear in each term,
    so the order is the ``max`` over terms, as for a sum.
    """

    def __init__(self, terms: Sequence[Expr], axis: str):
        if isinstance(terms, str) or not isinstance(terms, Sequence):
            raise TypeError(f"terms: expected a sequence of expressions, received "
                            f"{describe(terms)}")
        terms = tuple(terms)
        if not terms:
            raise ValueError("terms: expected at least one term, received none")
        for i, t in enumerate(terms):
            check_expr(t, f"terms[{i}]")
        check_name(axis, "axis")
        first = terms[0]
        if axis in first.axis_names:
            raise ValueError(f"axis: expected a new axis name, received existing {axis!r}")
        merged = list(first.axes)
        for i, t in enumerate(terms[1:], 1):
            check_same_axes(t.axes, first.axes, argument=f"terms[{i}]",
                             what="those of terms[0]")
            for j, a in enumerate(merged):
                merged[j] = merge_sizes(a, t.axes[t.axis_names.index(a.name)],
                                        argument=f"terms[{i}]")
        self.children = terms
        self.axis = axis
        self.axes = (Axis(axis, len(terms)), *merged)

    @property
    def self_interaction_order(self) -> int:
        return max(c.self_interaction_order for c in self.children)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Stack(children, self.axis)

    def __str__(self) -> str:
        return f"stack_{self.axis}(" + ", ".join(str(c) for c in self.children) + ")"

    def reference(self, *values: Tensor) -> Tensor:
        inner = self.axis_names[1:]
        aligned = [align(v, c.axes, inner) for c, v in zip(self.children, values, strict=True)]
        return torch.stack(torch.broadcast_tensors(*aligned), dim=-len(inner) - 1)
