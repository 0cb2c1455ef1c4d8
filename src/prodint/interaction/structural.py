"""Linear structural maps: they move, pad, window, mask or rescale values. Order-preserving.

These are the ``L1`` and ``L2`` of the multiplication operator ``O_K(X) = L1(K · L2(X))``:
fixed (non-learned) linear maps on the structural axes. ``ord(L(u)) = ord(u)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.interaction.axes import Axis, find_axis
from prodint.interaction.expr import Expr, Kernel, align


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
        order = tuple(order)
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


class Rename(_Unary):
    """Rename axes (``{"t": "s"}``): the same values seen under other names."""

    def __init__(self, child: Expr, mapping: Mapping[str, str]):
        for old in mapping:
            find_axis(child.axes, old, argument="mapping", owner="the operand")
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


class Pad(_Unary):
    """Pad axis ``axis`` with ``before``/``after`` entries: zeros, or wrapped (circular)."""

    MODES = ("zeros", "circular")

    def __init__(self, child: Expr, axis: str, before: int, after: int, mode: str = "zeros"):
        i = find_axis(child.axes, axis, argument="axis", owner="the operand")
        if mode not in self.MODES:
            raise ValueError(f"mode: expected one of {self.MODES}, received {mode!r}")
        if before < 0 or after < 0:
            raise ValueError(f"before/after: expected non-negative padding, received "
                             f"({before}, {after})")
        size = child.axes[i].size
        self.children = (child,)
        self.axis, self.before, self.after, self.mode = axis, before, after, mode
        new = None if size is None else size + before + after
        self.axes = tuple(Axis(a.name, new) if a.name == axis else a for a in child.axes)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Pad(children[0], self.axis, self.before, self.after, self.mode)

    def __str__(self) -> str:
        return f"pad_{self.axis}({self.child})"

    def kernel(self) -> Kernel:
        if self.mode == "circular":
            return self.reference
        d = self._dim(self.axis)
        # F.pad lists (before, after) pairs from the last dimension backwards
        pads = [0, 0] * (-d - 1) + [self.before, self.after]

        def pad(u: Tensor) -> Tensor:
            return F.pad(u, pads)

        return pad

    def reference(self, u: Tensor) -> Tensor:
        d = self._dim(self.axis)
        n = u.shape[d]
        parts = []
        if self.before:
            parts.append(u.narrow(d, n - self.before, self.before) if self.mode == "circular"
                         else u.new_zeros(*u.shape[:d], self.before, *u.shape[d:][1:]))
        parts.append(u)
        if self.after:
            parts.append(u.narrow(d, 0, self.after) if self.mode == "circular"
                         else u.new_zeros(*u.shape[:d], self.after, *u.shape[d:][1:]))
        return torch.cat(parts, d) if len(parts) > 1 else u


class Window(_Unary):
    """Sliding windows: axis ``axis`` of length ``n`` becomes ``(n - span)//stride + 1`` windows
    followed by a new axis ``new_axis`` of ``size`` taps, ``span = (size - 1)·dilation + 1``:
    ``out[..., i, k, ...] = u[..., i·stride + k·dilation, ...]`` (the convolution's index map).
    """

    def __init__(self, child: Expr, axis: str, size: int, new_axis: str, *, stride: int = 1,
                 dilation: int = 1):
        i = find_axis(child.axes, axis, argument="axis", owner="the operand")
        if new_axis in child.axis_names:
            raise ValueError(f"new_axis: expected a new name, received existing {new_axis!r}")
        for value, arg in ((size, "size"), (stride, "stride"), (dilation, "dilation")):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg}: expected a positive int, received {value!r}")
        n = child.axes[i].size
        span = (size - 1) * dilation + 1
        if n is not None and n < span:
            raise ValueError(f"size: window span {span} exceeds axis {axis!r} of length {n}")
        out = None if n is None else (n - span) // stride + 1
        self.children = (child,)
        self.axis, self.size, self.new_axis = axis, size, new_axis
        self.stride, self.dilation, self.span = stride, dilation, span
        axes = list(child.axes)
        axes[i] = Axis(axis, out)
        axes.insert(i + 1, Axis(new_axis, size))
        self.axes = tuple(axes)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Window(children[0], self.axis, self.size, self.new_axis, stride=self.stride,
                      dilation=self.dilation)

    def __str__(self) -> str:
        return f"window_{self.axis}^{self.size}({self.child})"

    def reference(self, u: Tensor) -> Tensor:
        d = self._dim(self.axis)
        n = u.shape[d]
        count = (n - self.span) // self.stride + 1
        starts = torch.arange(count, device=u.device) * self.stride
        taps = torch.arange(self.size, device=u.device) * self.dilation
        index = (starts[:, None] + taps[None, :]).reshape(-1)
        out = u.index_select(d, index)
        return out.unflatten(d, (count, self.size))

    def kernel(self) -> Kernel:
        def window(u: Tensor) -> Tensor:
            d = self._dim(self.axis)
            out = u.unfold(d, self.span, self.stride)  # [..., count, ..., span]
            if self.dilation > 1:
                out = out[..., :: self.dilation]
            # unfold appended the taps last; they belong right after the window axis
            return out if d == -1 else out.movedim(-1, d)

        return window


class CausalMask(_Unary):
    """Zero the entries with ``key > query`` (``u[..., t, ..., s, ...] · [s ≤ t]``): linear."""

    def __init__(self, child: Expr, query: str, key: str):
        find_axis(child.axes, query, argument="query", owner="the operand")
        find_axis(child.axes, key, argument="key", owner="the operand")
        self.children = (child,)
        self.query, self.key = query, key
        self.axes = child.axes

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return CausalMask(children[0], self.query, self.key)

    def __str__(self) -> str:
        return f"mask_{self.key}≤{self.query}({self.child})"

    def reference(self, u: Tensor) -> Tensor:
        return u * causal_mask(u, self.child.axis_names, self.query, self.key).to(u.dtype)


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
        self.children = (child,)
        self.factor = float(factor)
        self.axes = child.axes

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Scale(children[0], self.factor)

    def __str__(self) -> str:
        return f"{self.factor:.4g}·{self.child}"

    def reference(self, u: Tensor) -> Tensor:
        return u * self.factor


class AxisSum(_Unary):
    """``Σ_{axes} u``: summation over some axes (a linear map onto the remaining ones)."""

    def __init__(self, child: Expr, axes: str | Sequence[str]):
        axes = (axes,) if isinstance(axes, str) else tuple(axes)
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


class SplitAxis(_Unary):
    """Reshape: axis ``axis`` of size ``n1·n2·…`` becomes axes ``(name1, n1), (name2, n2), …``
    in row-major order (e.g. channels → heads × head_dim)."""

    def __init__(self, child: Expr, axis: str, parts: Sequence[tuple[str, int]]):
        i = find_axis(child.axes, axis, argument="axis", owner="the operand")
        parts = [(str(n), int(s)) for n, s in parts]
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
        return u.unflatten(self._dim(self.axis), [s for _, s in self.parts])


class MergeAxes(_Unary):
    """Reshape: adjacent axes ``names`` become one axis ``new`` (row-major), e.g. heads ×
    head_dim → channels."""

    def __init__(self, child: Expr, names: Sequence[str], new: str):
        names = list(names)
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


class Flip(_Unary):
    """Reverse the order along ``axis`` (a permutation of coordinates)."""

    def __init__(self, child: Expr, axis: str):
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


class Upsample(_Unary):
    """Insert ``stride - 1`` zeros between consecutive entries along ``axis``: length ``n``
    becomes ``(n - 1)·stride + 1``; ``out[i·stride] = u[i]``. The transposed convolution's
    input map (its span swaps source and target of the convolution's)."""

    def __init__(self, child: Expr, axis: str, stride: int):
        i = find_axis(child.axes, axis, argument="axis", owner="the operand")
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f"stride: expected a positive int, received {stride!r}")
        n = child.axes[i].size
        self.children = (child,)
        self.axis, self.stride = axis, stride
        self.axes = tuple(Axis(a.name, None if n is None else (n - 1) * stride + 1)
                          if a.name == axis else a for a in child.axes)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Upsample(children[0], self.axis, self.stride)

    def __str__(self) -> str:
        return f"up_{self.axis}^{self.stride}({self.child})"

    def reference(self, u: Tensor) -> Tensor:
        if self.stride == 1:
            return u
        d = self._dim(self.axis)
        n = u.shape[d]
        shape = list(u.shape)
        shape[d] = (n - 1) * self.stride + 1
        out = u.new_zeros(shape)
        index = torch.arange(n, device=u.device) * self.stride
        return out.index_copy(d, index, u)
