"""Group-equivariant convolutions on images for the rotation/flip groups of the square grid.

The groups are the subgroups of ``p4m``'s point group: ``C1, C2, C4`` (rotations by multiples
of 360°/n) and ``D1, D2, D4`` (the same with a mirror), as built by
:func:`prodint.groups.cyclic` / :func:`prodint.groups.dihedral` (``r^k s^f`` at index
``f·n + k``). ``C4`` gives the p4 layers, ``D4`` the p4m layers of Cohen & Welling.

Action on the grid (:func:`transform_grid`): ``r`` (of ``C_n`` / ``D_n``) turns an image
``[..., H, W]`` by ``4/n`` quarter turns, ``torch.rot90(x, 4/n, dims=(-2, -1))``, and ``s``
mirrors it, ``torch.flip(x, dims=(-1,))``; ``r^k s^f`` flips first, then turns, so
``T(g h) = T(g) T(h)``. On a feature map over the group ``f[c, h, y]`` (``[B, C, |G|, H, W]``)
an element ``u`` acts by the grid action and the left regular representation,
``(u · f)[c, h] = T_u f[c, u⁻¹h]``.

Layers (``ψ`` the learned base filter, ``⋆`` cross-correlation with zero padding):

- :class:`LiftingConv2d`, ``[B, C, H, W] → [B, O, |G|, H', W']``:
  ``y[o, g] = Σ_c f[c] ⋆ T_g ψ[o, c] + bias[o]``;
- :class:`GroupConv2d`, ``[B, C, |G|, H, W] → [B, O, |G|, H', W']``:
  ``y[o, g] = Σ_{c,h} f[c, h] ⋆ T_g ψ[o, c, g⁻¹h] + bias[o]``.

Both are equivariant: ``layer(u · f) = u · layer(f)``, exactly, because
``(T_u f) ⋆ (T_u ψ) = T_u (f ⋆ ψ)`` for symmetric padding (and stride 1, or a stride that
divides ``H + 2p − d(k−1) − 1`` and the same for ``W``; other strides are refused).
Over the group axis this is the product in the group algebra ``R[G]``: for ``1×1`` filters
``y[o] = Σ_c f[c] ·_{R[G]} ψ̃[o, c]`` with ``ψ̃[h] = ψ[h⁻¹]``
(``(u·v)_g = Σ_{ab=g} u_a v_b``); with spatial filters the grid action enters too, and the
filter bank ``K[o, g, c, h, ·] = T_g ψ[o, c, g⁻¹h, ·]`` is the element of ``R[G] ⊗ grid``
that multiplies the signal. ``K`` spans exactly the equivariant filters, parametrised by
``ψ``.

Fast path: :meth:`filter_bank` builds ``K`` from ``ψ`` with one gather (the spatial
permutation of the ``k×k`` taps for each ``g`` and the regular-representation permutation of
the group axis are one precomputed index), and forward is ONE ``F.conv2d`` with ``C·|G|``
input and ``O·|G|`` output channels, so a group convolution costs what a plain convolution of
that real size costs. Reference (:meth:`reference`): for each ``g`` separately, move the
input by ``g⁻¹``, convolve with the untransformed ``ψ`` and move the result back by ``g``:
``y[o, g] = T_g ((g⁻¹ · f) ⋆ ψ)[o]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.algebra import Algebra, group_algebra
from prodint.groups import Group, cyclic, dihedral
from prodint.interaction import (
    Contract,
    Expr,
    Pad,
    Parameter,
    Permute,
    Signal,
    Sum,
    Window,
    evaluate,
)

__all__ = [
    "GRID_GROUPS",
    "GroupConv2d",
    "LiftingConv2d",
    "grid_group",
    "transform_grid",
]

#: Names of the supported groups, with aliases: ``p4`` is ``C4``, ``p4m`` is ``D4``.
GRID_GROUPS: dict[str, tuple[str, int]] = {
    "C1": ("C", 1), "C2": ("C", 2), "C4": ("C", 4), "p4": ("C", 4),
    "D1": ("D", 1), "D2": ("D", 2), "D4": ("D", 4), "p4m": ("D", 4),
}


def grid_group(group: Group | str) -> Group:
    """The prodint group for ``group`` (a :class:`~prodint.groups.Group` or a name).

    Raises:
        ValueError: for a group that does not act on the square grid by rotations and flips.
    """
    if isinstance(group, str):
        if group not in GRID_GROUPS:
            raise ValueError(f"group: expected one of {sorted(GRID_GROUPS)}, received {group!r}")
        family, n = GRID_GROUPS[group]
        return cyclic(n) if family == "C" else dihedral(n)
    if not isinstance(group, Group):
        raise TypeError(f"group: expected a prodint Group or a name, received "
                        f"{type(group).__name__}")
    _family(group)
    return group


def _family(group: Group) -> tuple[str, int]:
    """``("C", n)`` or ``("D", n)``; the name disambiguates equal tables (``C2`` and ``D1``)."""
    name = group.name
    if name in GRID_GROUPS and name[0] in "CD":
        family, n = GRID_GROUPS[name]
        if group == (cyclic(n) if family == "C" else dihedral(n)):
            return family, n
    raise ValueError(f"group: expected one of C1, C2, C4, D1, D2, D4 as built by "
                     f"prodint.groups.cyclic/dihedral, received {group!r}")


def transform_grid(group: Group, element: int, x: Tensor) -> Tensor:
    """``T_g x`` on the last two axes: ``r^k s^f`` mirrors (``f = 1``), then turns ``k`` steps.

    A step of ``C_n`` / ``D_n`` is ``4/n`` quarter turns ``torch.rot90(·, 1, dims=(-2, -1))``;
    the mirror is ``torch.flip(·, dims=(-1,))``. Non-square grids become ``[W, H]`` under odd
    quarter turns.
    """
    family, n = _family(group)
    if isinstance(element, bool) or not isinstance(element, int) or \
            not 0 <= element < group.order:
        raise ValueError(f"element: expected an index in 0..{group.order - 1} ({group.name}), "
                         f"received {element!r}")
    k, f = (element, 0) if family == "C" else (element % n, element // n)
    if f:
        x = torch.flip(x, dims=(-1,))
    turns = (k * (4 // n)) % 4
    return torch.rot90(x, turns, dims=(-2, -1)) if turns else x


def _tap_permutations(group: Group, size: int) -> Tensor:
    """``[|G|, size²]``: ``(T_g ψ).flatten()[p] = ψ.flatten()[perm[g, p]]``."""
    taps = torch.arange(size * size).view(size, size)
    return torch.stack([transform_grid(group, g, taps).reshape(-1)
                        for g in range(group.order)])


class _GridGroupConv(nn.Module):
    """Shared parts: group, filter, bias, index tables, stride check and expression."""

    bank_index: Tensor
    group_table: Tensor

    def __init__(self, group: Group | str, in_channels: int, out_channels: int,
                 kernel_size: int, padding: int, stride: int, dilation: int, bias: bool,
                 lifting: bool) -> None:
        super().__init__()
        self.group = grid_group(group)
        for value, argument, low in ((in_channels, "in_channels", 1),
                                     (out_channels, "out_channels", 1),
                                     (kernel_size, "kernel_size", 1), (padding, "padding", 0),
                                     (stride, "stride", 1), (dilation, "dilation", 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{argument}: expected an int >= {low} (square, symmetric "
                                 f"grids keep the rotations exact), received {value!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.padding = kernel_size, padding
        self.stride, self.dilation = stride, dilation
        self.lifting = lifting
        order, k2 = self.group.order, kernel_size * kernel_size
        self.algebra: Algebra = group_algebra(self.group)
        taps = _tap_permutations(self.group, kernel_size)  # [g, p]
        if lifting:
            index = taps
        else:
            # bank[g, h, p] = ψ[g⁻¹h, taps[g, p]]: flat index into ψ's (h, p) block.
            source = self.group.table[self.group.inverse]  # source[g, h] = g⁻¹h
            index = source[:, :, None] * k2 + taps[:, None, :]
        self.register_buffer("bank_index", index.reshape(-1), persistent=False)
        self.register_buffer("group_table", self.group.table.clone(), persistent=False)
        group_axis = () if lifting else (order,)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *group_axis,
                                               kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()
        self.expression: Expr = self._build_expression(bias)

    def reset_parameters(self) -> None:
        """``U(−1/√fan_in, 1/√fan_in)``, ``fan_in = C·(|G|)·k²``: torch's conv default for the
        folded real convolution."""
        fan_in = self.weight[0].numel()
        bound = 1.0 / math.sqrt(fan_in)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)

    @property
    def self_interaction_order(self) -> int:
        return self.expression.self_interaction_order

    def _build_expression(self, bias: bool) -> Expr:
        """``Σ_{c,(h),k} window_k(pad(X))[c, (h), y, k] · K[o, g, c, (h), k] + b[o]`` (order 1)."""
        order, k, p = self.group.order, self.kernel_size, self.padding
        group_in = [] if self.lifting else [("h", order, self.algebra)]
        x: Expr = Signal("X", [("c", self.in_channels), *group_in, ("y0", None), ("y1", None)])
        for axis, tap in (("y0", "k0"), ("y1", "k1")):
            if p:
                x = Pad(x, axis, p, p)
            x = Window(x, axis, k, tap, stride=self.stride, dilation=self.dilation)
        summed = ("c", *(() if self.lifting else ("h",)), "k0", "k1")
        bank = Parameter("K", [("o", self.out_channels), ("g", order, self.algebra),
                               ("c", self.in_channels), *group_in, ("k0", k), ("k1", k)],
                         init="uniform", fan_in=summed)
        y: Expr = Permute(Contract(x, bank, over=summed), ("o", "g", "y0", "y1"))
        if bias:
            y = Sum(y, Parameter("b", [("o", self.out_channels)], init="zeros"))
        return y

    def filter_bank(self) -> Tensor:
        """``K``: ``[O, |G|, C, (|G|,) k, k]`` with ``K[o, g, c, (h)] = T_g ψ[o, c, (g⁻¹h)]``."""
        o, c, k = self.out_channels, self.in_channels, self.kernel_size
        order = self.group.order
        flat = self.weight.reshape(o, c, -1)
        bank = flat.index_select(2, self.bank_index)
        group_in = () if self.lifting else (order,)
        bank = bank.view(o, c, order, *group_in, k, k)
        return bank.transpose(1, 2)

    def _real_weight(self) -> Tensor:
        """The filter bank as one conv weight ``[O·|G|, C·(|G|), k, k]``."""
        o, k, order = self.out_channels, self.kernel_size, self.group.order
        return self.filter_bank().reshape(o * order, -1, k, k)

    def _real_bias(self) -> Tensor | None:
        if self.bias is None:
            return None
        return self.bias[:, None].expand(self.out_channels, self.group.order).reshape(-1)

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"x: expected a torch.Tensor, received {type(x).__name__}")
        order = self.group.order
        if self.lifting:
            ok, want = x.dim() == 4 and x.shape[1] == self.in_channels, \
                f"[batch, {self.in_channels}, H, W]"
        else:
            ok = x.dim() == 5 and x.shape[1] == self.in_channels and x.shape[2] == order
            want = f"[batch, {self.in_channels}, {order} ({self.group.name}), H, W]"
        if not ok:
            raise ValueError(f"x: expected {want}, received {tuple(x.shape)}")
        if self.stride > 1:
            reach = 2 * self.padding - self.dilation * (self.kernel_size - 1) - 1
            for size in x.shape[-2:]:
                if (size + reach) % self.stride:
                    raise ValueError(
                        f"x: spatial size {size} with stride {self.stride}: the output grid is "
                        f"not symmetric (size + 2·padding − dilation·(k−1) − 1 must be a "
                        f"multiple of the stride), which breaks equivariance")

    def forward(self, x: Tensor) -> Tensor:
        """One ``F.conv2d`` with the filter bank: output ``[B, O, |G|, H', W']``."""
        self._check(x)
        batch = x.shape[0]
        folded = x if self.lifting else x.reshape(batch, -1, *x.shape[-2:])
        y = F.conv2d(folded, self._real_weight(), self._real_bias(), self.stride,
                     self.padding, self.dilation)
        return y.view(batch, self.out_channels, self.group.order, *y.shape[-2:])

    def reference(self, x: Tensor) -> Tensor:
        """Per group element: ``y[:, :, g] = T_g conv2d(g⁻¹ · x, ψ) + bias``."""
        self._check(x)
        group = self.group
        outputs = []
        psi = self.weight if self.lifting else self.weight.flatten(1, 2)
        for g in range(group.order):
            inverse = int(group.inverse[g])
            moved = transform_grid(group, inverse, x)
            if not self.lifting:
                # (g⁻¹ · f)[h] = T_{g⁻¹} f[g h]: the regular representation on the group axis.
                moved = moved.index_select(2, self.group_table[g]).flatten(1, 2)
            y = F.conv2d(moved, psi, None, self.stride, self.padding, self.dilation)
            outputs.append(transform_grid(group, g, y))
        out = torch.stack(outputs, 2)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1, 1)
        return out

    def expression_value(self, x: Tensor) -> Tensor:
        """:attr:`expression` evaluated node by node with ``K = filter_bank()``."""
        params = {"K": self.filter_bank()}
        if self.bias is not None:
            params["b"] = self.bias
        return evaluate(self.expression, {"X": x}, params)

    def extra_repr(self) -> str:
        return (f"{self.group.name}, {self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, padding={self.padding}, stride={self.stride}, "
                f"dilation={self.dilation}, bias={self.bias is not None}")


class LiftingConv2d(_GridGroupConv):
    """Lift an image to a function on ``G``: ``[B, C, H, W] → [B, O, |G|, H', W']``.

    ``y[o, g] = Σ_c f[c] ⋆ T_g ψ[o, c] + bias[o]``; equivariant:
    ``y(T_u f)[g] = T_u y(f)[u⁻¹g]``.

    Args:
        group: ``C4``/``p4``, ``D4``/``p4m`` (or ``C1, C2, D1, D2``), a name or a Group.
        in_channels: ``C``; out_channels: ``O`` (fields, each with ``|G|`` coordinates).
        kernel_size: ``k`` (square filter ``ψ[o, c, k, k]``).
        padding, stride, dilation: as ``F.conv2d``, the same on both axes.
        bias: one learned value per output channel, shared over the group.
    """

    def __init__(self, group: Group | str, in_channels: int, out_channels: int,
                 kernel_size: int, padding: int = 0, stride: int = 1, dilation: int = 1,
                 bias: bool = True) -> None:
        super().__init__(group, in_channels, out_channels, kernel_size, padding, stride,
                         dilation, bias, lifting=True)


class GroupConv2d(_GridGroupConv):
    """Group-to-group convolution: ``[B, C, |G|, H, W] → [B, O, |G|, H', W']``.

    ``y[o, g] = Σ_{c,h} f[c, h] ⋆ T_g ψ[o, c, g⁻¹h] + bias[o]``; equivariant:
    ``y(u · f) = u · y(f)`` with ``(u · f)[c, h] = T_u f[c, u⁻¹h]`` on input and output.

    Args:
        group: ``C4``/``p4``, ``D4``/``p4m`` (or ``C1, C2, D1, D2``), a name or a Group.
        in_channels: ``C``; out_channels: ``O`` (fields over the group).
        kernel_size: ``k`` (filter ``ψ[o, c, |G|, k, k]``).
        padding, stride, dilation: as ``F.conv2d``, the same on both axes.
        bias: one learned value per output channel, shared over the group.
    """

    def __init__(self, group: Group | str, in_channels: int, out_channels: int,
                 kernel_size: int, padding: int = 0, stride: int = 1, dilation: int = 1,
                 bias: bool = True) -> None:
        super().__init__(group, in_channels, out_channels, kernel_size, padding, stride,
                         dilation, bias, lifting=False)

