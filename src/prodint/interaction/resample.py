"""Linear maps that change the length of an axis: padding, sliding windows, upsampling.

Structural maps like those of :mod:`prodint.interaction.structural` (order-preserving,
``ord(L(u)) = ord(u)``), the index maps of convolutions and transposed convolutions. On a
free axis the new length is known only when data arrives, so their kernels check it then:
a window longer than the input, or a padding or stride whose value would not fit in memory,
is refused with the argument named before anything is allocated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.checks import check_choice, check_int, check_memory, check_name, memory_limit
from prodint.interaction import index_map as im
from prodint.interaction.axes import Axis, find_axis
from prodint.interaction.expr import Expr, Kernel, check_expr
from prodint.interaction.structural import _Unary


def check_output_size(u: Tensor, dim: int, length: int, argument: str, what: str, *,
                      budget: int | None = None) -> None:
    """Refuse (``ValueError`` naming ``argument``) before allocating a value shaped like ``u``
    with ``length`` entries along ``dim``, when it would not fit in memory (``budget``
    bytes, default :func:`prodint.checks.memory_limit`).

    A data-dependent size (a padding or stride on a free axis) can only be checked when the
    data arrives: the kernels call this before allocating.
    """
    shape = list(u.shape)
    shape[dim] = length
    nbytes = math.prod(shape) * u.element_size()
    if nbytes > (memory_limit() if budget is None else budget):
        check_memory(nbytes, argument, what)


class Pad(_Unary):
    """Pad axis ``axis`` with ``before``/``after`` entries: zeros, or wrapped (circular)."""

    MODES = ("zeros", "circular")

    def __init__(self, child: Expr, axis: str, before: int, after: int, mode: str = "zeros"):
        check_expr(child, "child")
        i = find_axis(child.axes, axis, argument="axis", owner="the operand")
        check_choice(mode, "mode", self.MODES)
        check_int(before, "before", minimum=0)
        check_int(after, "after", minimum=0)
        size = child.axes[i].size
        self.children = (child,)
        self.axis, self.before, self.after, self.mode = axis, before, after, mode
        new = None if size is None else size + before + after
        self.axes = tuple(Axis(a.name, new) if a.name == axis else a for a in child.axes)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Pad(children[0], self.axis, self.before, self.after, self.mode)

    def __str__(self) -> str:
        mode = "" if self.mode == "zeros" else f" {self.mode}"
        return f"pad_{self.axis}^({self.before},{self.after}{mode})({self.child})"

    def _check(self, u: Tensor, d: int, budget: int | None = None) -> None:
        n = u.shape[d]
        if self.mode == "circular" and max(self.before, self.after) > n:
            raise ValueError(f"before/after: expected a circular padding of at most the length "
                             f"{n} of axis {self.axis!r}, received ({self.before}, "
                             f"{self.after})")
        check_output_size(u, d, n + self.before + self.after, "before/after",
                          "padded value", budget=budget)

    def kernel(self) -> Kernel:
        if self.mode == "circular":
            return self.reference
        d = self._dim(self.axis)
        # F.pad lists (before, after) pairs from the last dimension backwards
        pads = [0, 0] * (-d - 1) + [self.before, self.after]
        budget = memory_limit()

        def pad(u: Tensor) -> Tensor:
            self._check(u, d, budget)
            return F.pad(u, pads)

        return pad

    def reference(self, u: Tensor) -> Tensor:
        d = self._dim(self.axis)
        self._check(u, d)
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

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """``y[..., j, ...] = u[..., j - before, ...]``: zero outside, wrapped when circular."""
        d = self.child.axis_names.index(self.axis)
        n = sizes[d]
        if self.mode == "circular" and max(self.before, self.after) > n:
            raise ValueError(f"before/after: expected a circular padding of at most the length "
                             f"{n} of axis {self.axis!r}, received ({self.before}, "
                             f"{self.after})")
        length = n + self.before + self.after
        positions = torch.arange(length) - self.before
        if self.mode == "circular":
            positions = positions % n
        else:
            positions = torch.where((positions >= 0) & (positions < n), positions, -1)
        return im.along_axis(sizes, d, positions, (*sizes[:d], length, *sizes[d + 1:]))


class Window(_Unary):
    """Sliding windows: axis ``axis`` of length ``n`` becomes ``(n - span)//stride + 1`` windows
    followed by a new axis ``new_axis`` of ``size`` taps, ``span = (size - 1)·dilation + 1``:
    ``out[..., i, k, ...] = u[..., i·stride + k·dilation, ...]`` (the convolution's index map).
    """

    def __init__(self, child: Expr, axis: str, size: int, new_axis: str, *, stride: int = 1,
                 dilation: int = 1):
        check_expr(child, "child")
        i = find_axis(child.axes, axis, argument="axis", owner="the operand")
        check_name(new_axis, "new_axis")
        if new_axis in child.axis_names:
            raise ValueError(f"new_axis: expected a new name, received existing {new_axis!r}")
        for value, arg in ((size, "size"), (stride, "stride"), (dilation, "dilation")):
            check_int(value, arg, minimum=1)
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

    def _step(self, u: Tensor, d: int) -> int:
        """The stride, checked against the input's length (a free axis is known only now);
        a stride past the last start gives the same single window as the length itself."""
        n = u.shape[d]
        if n < self.span:
            # the axis is free: its length comes from the inputs, so the message names them
            names = ", ".join(sorted({s.name for s in self.child.signals()})) or "the input"
            raise ValueError(f"{names}: expected axis {self.axis!r} of length at least the "
                             f"window span (size - 1)·dilation + 1 = {self.span} (size="
                             f"{self.size}, dilation={self.dilation}), received length {n}")
        return min(self.stride, n)

    def reference(self, u: Tensor) -> Tensor:
        d = self._dim(self.axis)
        stride = self._step(u, d)
        n = u.shape[d]
        count = (n - self.span) // stride + 1
        starts = torch.arange(count, device=u.device) * stride
        taps = torch.arange(self.size, device=u.device) * self.dilation
        index = (starts[:, None] + taps[None, :]).reshape(-1)
        out = u.index_select(d, index)
        return out.unflatten(d, (count, self.size))

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """``y[..., i, k, ...] = u[..., i·stride + k·dilation, ...]``."""
        d = self.child.axis_names.index(self.axis)
        n = sizes[d]
        if n < self.span:
            names = ", ".join(sorted({s.name for s in self.child.signals()})) or "the input"
            raise ValueError(f"{names}: expected axis {self.axis!r} of length at least the "
                             f"window span (size - 1)·dilation + 1 = {self.span} (size="
                             f"{self.size}, dilation={self.dilation}), received length {n}")
        stride = min(self.stride, n)
        count = (n - self.span) // stride + 1
        starts = torch.arange(count) * stride
        taps = torch.arange(self.size) * self.dilation
        positions = (starts[:, None] + taps[None, :]).reshape(-1)
        return im.along_axis(sizes, d, positions,
                             (*sizes[:d], count, self.size, *sizes[d + 1:]))

    def kernel(self) -> Kernel:
        def window(u: Tensor) -> Tensor:
            d = self._dim(self.axis)
            out = u.unfold(d, self.span, self._step(u, d))  # [..., count, ..., span]
            if self.dilation > 1:
                out = out[..., :: self.dilation]
            # unfold appended the taps last; they belong right after the window axis
            return out if d == -1 else out.movedim(-1, d)

        return window


class Upsample(_Unary):
    """Insert ``stride - 1`` zeros between consecutive entries along ``axis``: length ``n``
    becomes ``(n - 1)·stride + 1``; ``out[i·stride] = u[i]``. The transposed convolution's
    input map (its span swaps source and target of the convolution's)."""

    def __init__(self, child: Expr, axis: str, stride: int):
        check_expr(child, "child")
        i = find_axis(child.axes, axis, argument="axis", owner="the operand")
        check_int(stride, "stride", minimum=1)
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
        if n == 0:
            return u
        shape = list(u.shape)
        shape[d] = (n - 1) * self.stride + 1
        check_output_size(u, d, shape[d], "stride", "upsampled value")
        out = u.new_zeros(shape)
        index = torch.arange(n, device=u.device) * self.stride
        return out.index_copy(d, index, u)

    def index_map(self, sizes: Sequence[int]) -> im.IndexMap:
        """``y[..., i·stride, ...] = u[..., i, ...]``, zero between."""
        d = self.child.axis_names.index(self.axis)
        n = sizes[d]
        length = (n - 1) * self.stride + 1 if n else 0
        j = torch.arange(length)
        positions = torch.where(j % self.stride == 0,
                                torch.div(j, self.stride, rounding_mode="floor"), -1)
        return im.along_axis(sizes, d, positions, (*sizes[:d], length, *sizes[d + 1:]))
