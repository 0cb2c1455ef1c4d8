"""Linear structural maps: they move, pad, window, mask or rescale values. Order-preserving.

These are the ``L1`` and ``L2`` of the multiplication operator ``O_K(X) = L1(K · L2(X))``:
fixed (non-learned) linear maps on the structural axes. ``ord(L(u)) = ord(u)``. The maps
that change the length of an axis (padding, windows, upsampling) are in
:mod:`prodint.interaction.resample`.

Every constructor checks its arguments before building anything: the operand is an
expression, the axes it names exist (new names are identifiers that do not clash), ints
are ints and reals finite; a wrong kind raises ``TypeError``, a wrong value ``ValueError``,
both naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from prodint.checks import check_float, check_int, check_name, check_names, describe
from prodint.interaction import index_map as im
from prodint.interaction.axes import Axis, find_axis
from prodint.interaction.expr import Expr, align, check_expr


class _Unary(Expr):
    @property
    def child(self) -> Expr:
        return self.children[0]

    @property
    def self_interaction_order(self) -> int:
        return self.child.self_interaction_order

    def _dim(self, name: str) -> int:
        """Negative dimension index of axis ``name`` in the child's value."""
        axes = self.child.axis_names
        return axes.index(name) - len(axes)


class Permute(_Unary):
    """Reorder the axes of ``u`` to ``order`` (a relabelling of coordinates)."""

    def __init__(self, child: Expr, order: Sequence[str]):
        check_expr(child, "child")
        order = check_names(order, "order")
        if sorted(order) != sorted(child.axis_names):
            raise ValueError(f"order: expected a permutation of {list(child.axis_names)}, "
                             f"received {list(order)}")
        self.children = (child,)
        self.order = order
        self.axes = tuple(child.axes[child.axis_names.index(n)] for n in order)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Permute(children[0], self.order)

    def __str__(self) -> str:
        return str(self.child)

    def reference(self, u: Tensor) -> Tensor:
        return align(u, self.child.axes, self.order)

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """The permutation of coordinates (see :mod:`prodint.interaction.index_map`)."""
        return im.permutation(sizes, [self.child.axis_names.index(n) for n in self.order])


class Rename(_Unary):
    """Rename axes (``{"t": "s"}``): the same values seen under other names."""

    def __init__(self, child: Expr, mapping: Mapping[str, str]):
        check_expr(child, "child")
        if not isinstance(mapping, Mapping):
            raise TypeError(f"mapping: expected a mapping {{old axis name: new name}}, "
                            f"received {describe(mapping)}")
        for old, new in mapping.items():
            find_axis(child.axes, old, argument="mapping", owner="the operand")
            check_name(new, f"mapping[{old!r}]")
        self.children = (child,)
        self.mapping = dict(mapping)
        self.axes = tuple(Axis(self.mapping.get(a.name, a.name), a.size, a.algebra)
                          for a in child.axes)
        names = self.axis_names
        if len(set(names)) != len(names):
            raise ValueError(f"mapping: renaming gives duplicate axis names {list(names)}")

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Rename(children[0], self.mapping)

    def __str__(self) -> str:
        pairs = ",".join(f"{a}→{b}" for a, b in self.mapping.items())
        return f"{self.child}[{pairs}]"

    #: The value is the child's value: compiled code reuses it without a step.
    is_alias = True

    def reference(self, u: Tensor) -> Tensor:
        return u

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """The identity: the same entries under other names."""
        return im.identity(sizes)


class CausalMask(_Unary):
    """Zero the entries with ``key > query`` (``u[..., t, ..., s, ...] · [s ≤ t]``): linear."""

    def __init__(self, child: Expr, query: str, key: str):
        check_expr(child, "child")
        find_axis(child.axes, query, argument="query", owner="the operand")
        find_axis(child.axes, key, argument="key", owner="the operand")
        if query == key:
            raise ValueError(f"key: expected an axis other than query {query!r}, received "
                             f"{key!r}")
        self.children = (child,)
        self.query, self.key = query, key
        self.axes = child.axes

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return CausalMask(children[0], self.query, self.key)

    def __str__(self) -> str:
        return f"mask_{self.key}≤{self.query}({self.child})"

    def reference(self, u: Tensor) -> Tensor:
        return u * causal_mask(u, self.child.axis_names, self.query, self.key).to(u.dtype)

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """The identity on the entries with ``key ≤ query``."""
        names = self.child.axis_names
        coords = im.coordinates(im.grid(sizes).reshape(-1), sizes)
        keep = coords[:, names.index(self.key)] <= coords[:, names.index(self.query)]
        return im.identity(sizes, keep=keep)


def causal_mask(u: Tensor, names: Sequence[str], query: str, key: str) -> Tensor:
    """Boolean ``[s ≤ t]`` shaped to broadcast against ``u`` (``names`` its trailing axes)."""
    k = len(names)
    tq, tk = u.shape[u.dim() - k + names.index(query)], u.shape[u.dim() - k + names.index(key)]
    allowed = torch.ones(tq, tk, dtype=torch.bool, device=u.device).tril()
    shape = [1] * k
    shape[names.index(query)] = tq
    shape[names.index(key)] = tk
    if names.index(query) > names.index(key):
        allowed = allowed.T
    return allowed.reshape(shape)


class Scale(_Unary):
    """Multiplication by a fixed scalar ``c`` (e.g. ``1/√d`` in attention)."""

    def __init__(self, child: Expr, factor: float):
        check_expr(child, "child")
        self.children = (child,)
        self.factor = check_float(factor, "factor")
        self.axes = child.axes

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Scale(children[0], self.factor)

    def __str__(self) -> str:
        return f"{self.factor:.4g}·{self.child}"

    def reference(self, u: Tensor) -> Tensor:
        return u * self.factor

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """The identity with weight ``factor``."""
        return im.identity(sizes, weight=torch.full(tuple(sizes), self.factor,
                                                    dtype=torch.float64))


class AxisSum(_Unary):
    """``Σ_{axes} u``: summation over some axes (a linear map onto the remaining ones)."""

    def __init__(self, child: Expr, axes: str | Sequence[str]):
        check_expr(child, "child")
        axes = check_names(axes, "axes", single=True)
        if len(set(axes)) != len(axes):
            raise ValueError(f"axes: expected distinct axis names, received {list(axes)}")
        for name in axes:
            find_axis(child.axes, name, argument="axes", owner="the operand")
        self.children = (child,)
        self.summed = axes
        self.axes = tuple(a for a in child.axes if a.name not in axes)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return AxisSum(children[0], self.summed)

    def __str__(self) -> str:
        return f"Σ_{','.join(self.summed)} {self.child}"

    def reference(self, u: Tensor) -> Tensor:
        return u.sum(dim=[self._dim(n) for n in self.summed])

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """Every entry of ``u`` onto the entry of its remaining coordinates."""
        names = self.child.axis_names
        kept = [i for i, n in enumerate(names) if n not in self.summed]
        out_sizes = tuple(sizes[i] for i in kept)
        source = im.grid(sizes).reshape(-1)
        coords = im.coordinates(source, sizes)[:, kept]
        target = torch.zeros_like(source)
        for i, size in enumerate(out_sizes):
            target = target * size + coords[:, i]
        return im.IndexMap(target, source, None, out_sizes)


class SplitAxis(_Unary):
    """Reshape: axis ``axis`` of size ``n1·n2·…`` becomes axes ``(name1, n1), (name2, n2), …``
    in row-major order (e.g. channels → heads × head_dim)."""

    def __init__(self, child: Expr, axis: str, parts: Sequence[tuple[str, int]]):
        check_expr(child, "child")
        i = find_axis(child.axes, axis, argument="axis", owner="the operand")
        parts = _check_parts(parts)
        size = child.axes[i].size
        total = 1
        for _, s in parts:
            total *= s
        if size is not None and total != size:
            raise ValueError(f"parts: expected sizes multiplying to {size} (axis {axis!r}), "
                             f"received {[s for _, s in parts]}")
        clash = {n for n, _ in parts} & (set(child.axis_names) - {axis})
        if clash:
            raise ValueError(f"parts: expected new axis names, received existing {sorted(clash)}")
        self.children = (child,)
        self.axis, self.parts = axis, parts
        axes = list(child.axes)
        axes[i:i + 1] = [Axis(n, s) for n, s in parts]
        self.axes = tuple(axes)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return SplitAxis(children[0], self.axis, self.parts)

    def __str__(self) -> str:
        return str(self.child)

    def reference(self, u: Tensor) -> Tensor:
        d = self._dim(self.axis)
        sizes = [s for _, s in self.parts]
        if u.shape[d] != math.prod(sizes):
            raise ValueError(f"parts: expected sizes multiplying to the length {u.shape[d]} of "
                             f"axis {self.axis!r}, received {sizes}")
        return u.unflatten(d, sizes)

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """The identity on flat indices (a row-major reshape)."""
        i = self.child.axis_names.index(self.axis)
        parts = [s for _, s in self.parts]
        if sizes[i] != math.prod(parts):
            raise ValueError(f"parts: expected sizes multiplying to the length {sizes[i]} of "
                             f"axis {self.axis!r}, received {parts}")
        return im.identity(sizes, (*sizes[:i], *parts, *sizes[i + 1:]))


def _check_parts(parts: object) -> list[tuple[str, int]]:
    """The ``(name, size)`` pairs of :class:`SplitAxis`, checked."""
    if isinstance(parts, str) or not isinstance(parts, Sequence) or not parts:
        raise TypeError(f"parts: expected a non-empty sequence of (name, size) pairs, received "
                        f"{describe(parts)}")
    out = []
    for i, part in enumerate(parts):
        if not isinstance(part, (tuple, list)) or len(part) != 2:
            raise TypeError(f"parts[{i}]: expected a (name, size) pair, received "
                            f"{describe(part)}")
        out.append((check_name(part[0], f"parts[{i}]"),
                    check_int(part[1], f"parts[{i}]", minimum=1)))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"parts: expected distinct names, received {names}")
    return out


class MergeAxes(_Unary):
    """Reshape: adjacent axes ``names`` become one axis ``new`` (row-major), e.g. heads ×
    head_dim → channels."""

    def __init__(self, child: Expr, names: Sequence[str], new: str):
        check_expr(child, "child")
        names = list(check_names(names, "names", empty=False))
        check_name(new, "new")
        idx = [find_axis(child.axes, n, argument="names", owner="the operand") for n in names]
        if idx != list(range(idx[0], idx[0] + len(idx))):
            raise ValueError(f"names: expected adjacent axes in order, received {names} of "
                             f"{list(child.axis_names)}")
        if new in set(child.axis_names) - set(names):
            raise ValueError(f"new: expected a new axis name, received existing {new!r}")
        sizes = [child.axes[i].size for i in idx]
        size = None
        if all(s is not None for s in sizes):
            size = 1
            for s in sizes:
                size *= s  # type: ignore[operator]
        self.children = (child,)
        self.names, self.new = names, new
        axes = list(child.axes)
        axes[idx[0]:idx[-1] + 1] = [Axis(new, size)]
        self.axes = tuple(axes)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return MergeAxes(children[0], self.names, self.new)

    def __str__(self) -> str:
        return str(self.child)

    def reference(self, u: Tensor) -> Tensor:
        start = self._dim(self.names[0])
        return u.flatten(start, start + len(self.names) - 1)

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """The identity on flat indices (a row-major reshape)."""
        i = self.child.axis_names.index(self.names[0])
        k = len(self.names)
        return im.identity(sizes, (*sizes[:i], math.prod(sizes[i:i + k]), *sizes[i + k:]))


class Flip(_Unary):
    """Reverse the order along ``axis`` (a permutation of coordinates)."""

    def __init__(self, child: Expr, axis: str):
        check_expr(child, "child")
        find_axis(child.axes, axis, argument="axis", owner="the operand")
        self.children = (child,)
        self.axis = axis
        self.axes = child.axes

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Flip(children[0], self.axis)

    def __str__(self) -> str:
        return f"flip_{self.axis}({self.child})"

    def reference(self, u: Tensor) -> Tensor:
        return u.flip(self._dim(self.axis))

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """``y[..., j, ...] = u[..., n - 1 - j, ...]``."""
        d = self.child.axis_names.index(self.axis)
        return im.along_axis(sizes, d, torch.arange(sizes[d] - 1, -1, -1), sizes)
