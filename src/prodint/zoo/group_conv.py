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

The expression states the tie: the filter bank is a :class:`~prodint.interaction.Gather` of
``ψ`` by one fixed index table (the spatial permutation of the ``k×k`` taps for each ``g``
and the regular-representation permutation of the group axis), so the layer's parameters are
``params.psi`` (``[O, C, (|G|,) k, k]``) and ``params.b`` (``[O]``), and compiling the
expression gives back the layer: the same parameter count and the exact equivariance.

Fast path: :meth:`filter_bank` evaluates that tie once per call, and forward is ONE
``F.conv2d`` with ``C·|G|`` input and ``O·|G|`` output channels, so a group convolution costs
what a plain convolution of that real size costs. Oracle (:meth:`oracle`, independent of the
bank): for each ``g`` separately, move the input by ``g⁻¹``, convolve with the untransformed
``ψ`` and move the result back by ``g``: ``y[o, g] = T_g ((g⁻¹ · f) ⋆ ψ)[o]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.algebra import group_algebra
from prodint.checks import (
    check_bool,
    check_int,
    check_layer_input,
    check_layer_options,
    check_parameter_memory,
    check_tensor,
)
from prodint.checks.layers import check_conv_output
from prodint.groups import Group, cyclic, dihedral
from prodint.interaction import (
    Contract,
    Expr,
    Gather,
    Pad,
    Parameter,
    Permute,
    Plan,
    Signal,
    Sum,
    Window,
)
from prodint.interaction.layer import InteractionLayer

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

    Raises:
        TypeError: ``group`` not a Group, ``element`` not an int, ``x`` not a tensor.
        ValueError: a group that does not act on the grid, an element out of range, ``x`` of
            rank below 2.
    """
    if not isinstance(group, Group):
        raise TypeError(f"group: expected a prodint Group, received {type(group).__name__}")
    family, n = _family(group)
    check_int(element, "element", minimum=0, maximum=group.order - 1)
    check_tensor(x, "x", dtypes=None)
    if x.dim() < 2:
        raise ValueError(f"x: expected a tensor [..., H, W], received shape {tuple(x.shape)}")
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


def _bank_index(group: Group, in_channels: int, out_channels: int, kernel_size: int,
                lifting: bool) -> Tensor:
    """``[O, |G|, C, (|G|,) k, k]`` flat indices into ``ψ`` ``[O, C, (|G|,) k, k]``.

    ``K[o, g, c, h, p] = ψ[o, c, g⁻¹h, perm_g(p)]`` with ``(T_g ψ).flatten()[p] =
    ψ.flatten()[perm_g(p)]``; the lifting bank has no ``h``.
    """
    order, k2 = group.order, kernel_size * kernel_size
    taps = _tap_permutations(group, kernel_size)  # [g, p]
    o = torch.arange(out_channels).view(-1, 1, 1, 1, 1)
    c = torch.arange(in_channels).view(1, 1, -1, 1, 1)
    if lifting:
        index = (o * in_channels + c) * k2 + taps[None, :, None, None, :]
        return index[:, :, :, 0].reshape(out_channels, order, in_channels, kernel_size,
                                         kernel_size)
    source = group.table[group.inverse]  # source[g, h] = g⁻¹h
    index = ((o * in_channels + c) * order + source[None, :, None, :, None]) * k2 \
        + taps[None, :, None, None, :]
    return index.reshape(out_channels, order, in_channels, order, kernel_size, kernel_size)


def group_conv_expression(group: Group, in_channels: int, out_channels: int,
                          kernel_size: int, padding: int, stride: int, dilation: int,
                          bias: bool, lifting: bool) -> tuple[Expr, Gather]:
    """``Σ_{c,(h),k} window_k(pad(X))[c, (h), y, k] K[o, g, c, (h), k] + b[o]`` (order 1) with
    the filter bank ``K = tie_bank(ψ)`` (module doc). Returns the expression and ``K``."""
    order, k = group.order, kernel_size
    algebra = group_algebra(group)
    group_in = [] if lifting else [("h", order, algebra)]
    x: Expr = Signal("X", [("c", in_channels), *group_in, ("y0", None), ("y1", None)])
    for axis, tap in (("y0", "k0"), ("y1", "k1")):
        if padding:
            x = Pad(x, axis, padding, padding)
        x = Window(x, axis, k, tap, stride=stride, dilation=dilation)
    summed = ("c", *(() if lifting else ("h",)), "k0", "k1")
    # U(±1/√fan_in), fan_in = C·(|G|)·k²: torch's conv default for the folded real conv.
    psi = Parameter("psi", [("o", out_channels), ("c", in_channels),
                            *(() if lifting else (("h", order),)), ("k0", k), ("k1", k)],
                    init="uniform", fan_in=summed)
    bank = Gather(psi, "bank", _bank_index(group, in_channels, out_channels, k, lifting),
                  [("o", out_channels), ("g", order, algebra), ("c", in_channels), *group_in,
                   ("k0", k), ("k1", k)])
    y: Expr = Permute(Contract(x, bank, over=summed), ("o", "g", "y0", "y1"))
    if bias:
        y = Sum(y, Parameter("b", [("o", out_channels)], init="zeros"))
    return y, bank


class _GridGroupConv(InteractionLayer):
    """Shared parts: the group, the filter bank tie, the stride check, the oracle."""

    def __init__(self, group: Group | str, in_channels: int, out_channels: int,
                 kernel_size: int, padding: int, stride: int, dilation: int, bias: bool,
                 lifting: bool, *, device: torch.device | str | None,
                 dtype: torch.dtype | None, generator: torch.Generator | None) -> None:
        self.group = grid_group(group)
        # one int per option: square, symmetric grids keep the rotations exact
        for value, argument, low in ((in_channels, "in_channels", 1),
                                     (out_channels, "out_channels", 1),
                                     (kernel_size, "kernel_size", 1), (padding, "padding", 0),
                                     (stride, "stride", 1), (dilation, "dilation", 1)):
            check_int(value, argument, minimum=low)
        check_bool(bias, "bias")
        check_layer_options(device, dtype, generator)
        order = self.group.order
        weights = out_channels * in_channels * (1 if lifting else order) * kernel_size ** 2
        check_parameter_memory(weights + out_channels, "in_channels, out_channels, kernel_size",
                         dtype, tables=2 * order * weights)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.padding = kernel_size, padding
        self.stride, self.dilation = stride, dilation
        self.lifting = lifting
        expression, bank = group_conv_expression(self.group, in_channels, out_channels,
                                                 kernel_size, padding, stride, dilation, bias,
                                                 lifting)
        super().__init__(expression, device=device, dtype=dtype, generator=generator)
        self._bank = Plan(bank)

    def filter_bank(self) -> Tensor:
        """``K``: ``[O, |G|, C, (|G|,) k, k]`` with ``K[o, g, c, (h)] = T_g ψ[o, c, (g⁻¹h)]``,
        the expression's tie evaluated on this layer's ``ψ``."""
        return self._bank.run({}, self.params, self.tables())

    def _real_bias(self) -> Tensor | None:
        if not self.has_param("b"):
            return None
        return self.params["b"][:, None].expand(self.out_channels, self.group.order).reshape(-1)

    def _check(self, x: Tensor) -> None:
        check_layer_input(x, "x", self.params["psi"])
        order = self.group.order
        if self.lifting:
            ok, want = x.dim() == 4 and x.shape[1] == self.in_channels, \
                f"[batch, {self.in_channels}, H, W]"
        else:
            ok = x.dim() == 5 and x.shape[1] == self.in_channels and x.shape[2] == order
            want = f"[batch, {self.in_channels}, {order} ({self.group.name}), H, W]"
        if not ok:
            raise ValueError(f"x: expected {want}, received {tuple(x.shape)}")
        k, p, s, d = self.kernel_size, self.padding, self.stride, self.dilation
        check_conv_output(x, x.shape[-2:], (k, k), (s, s), (p, p), (d, d),
                          self.out_channels * order)
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
        batch, k = x.shape[0], self.kernel_size
        weight = self.filter_bank().reshape(self.out_channels * self.group.order, -1, k, k)
        folded = x if self.lifting else x.flatten(1, 2)
        y = F.conv2d(folded, weight, self._real_bias(), self.stride, self.padding,
                     self.dilation)
        return y.view(batch, self.out_channels, self.group.order, *y.shape[-2:])

    def general(self, x: Tensor) -> Tensor:
        """The compiled expression (the bank tie, then the windowed contraction)."""
        self._check(x)
        return self.run_plan(x)

    def reference(self, x: Tensor) -> Tensor:
        """The expression evaluated node by node."""
        self._check(x)
        return self.run_reference(x)

    def oracle(self, x: Tensor) -> Tensor:
        """Per group element, without the bank: ``y[:, :, g] = T_g conv2d(g⁻¹ · x, ψ) + b``."""
        self._check(x)
        group = self.group
        table = group.table.to(x.device)
        outputs = []
        psi = self.params["psi"]
        psi = psi if self.lifting else psi.flatten(1, 2)
        for g in range(group.order):
            moved = transform_grid(group, int(group.inverse[g]), x)
            if not self.lifting:
                # (g⁻¹ · f)[h] = T_{g⁻¹} f[g h]: the regular representation on the group axis.
                moved = moved.index_select(2, table[g]).flatten(1, 2)
            y = F.conv2d(moved, psi, None, self.stride, self.padding, self.dilation)
            outputs.append(transform_grid(group, g, y))
        out = torch.stack(outputs, 2)
        if self.has_param("b"):
            out = out + self.params["b"].view(1, -1, 1, 1, 1)
        return out

    def extra_repr(self) -> str:
        return (f"{self.group.name}, {self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, padding={self.padding}, stride={self.stride}, "
                f"dilation={self.dilation}, bias={self.has_param('b')}, {super().extra_repr()}")


class LiftingConv2d(_GridGroupConv):
    """Lift an image to a function on ``G``: ``[B, C, H, W] → [B, O, |G|, H', W']``.

    ``y[o, g] = Σ_c f[c] ⋆ T_g ψ[o, c] + bias[o]``; equivariant:
    ``y(T_u f)[g] = T_u y(f)[u⁻¹g]``.

    Args:
        group: ``C4``/``p4``, ``D4``/``p4m`` (or ``C1, C2, D1, D2``), a name or a Group.
        in_channels: ``C``; out_channels: ``O`` (fields, each with ``|G|`` coordinates).
        kernel_size: ``k`` (square filter ``ψ[o, c, k, k]``).
        padding, stride, dilation: as ``F.conv2d``, the same on both axes.
        bias: one learned value per output channel, shared over the group (initialised to
            zero).
        device, dtype, generator: as :class:`~prodint.interaction.layer.InteractionLayer`.
    """

    def __init__(self, group: Group | str, in_channels: int, out_channels: int,
                 kernel_size: int, padding: int = 0, stride: int = 1, dilation: int = 1,
                 bias: bool = True, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(group, in_channels, out_channels, kernel_size, padding, stride,
                         dilation, bias, lifting=True, device=device, dtype=dtype,
                         generator=generator)


class GroupConv2d(_GridGroupConv):
    """Group-to-group convolution: ``[B, C, |G|, H, W] → [B, O, |G|, H', W']``.

    ``y[o, g] = Σ_{c,h} f[c, h] ⋆ T_g ψ[o, c, g⁻¹h] + bias[o]``; equivariant:
    ``y(u · f) = u · y(f)`` with ``(u · f)[c, h] = T_u f[c, u⁻¹h]`` on input and output.

    Args:
        group: ``C4``/``p4``, ``D4``/``p4m`` (or ``C1, C2, D1, D2``), a name or a Group.
        in_channels: ``C``; out_channels: ``O`` (fields over the group).
        kernel_size: ``k`` (filter ``ψ[o, c, |G|, k, k]``).
        padding, stride, dilation: as ``F.conv2d``, the same on both axes.
        bias: one learned value per output channel, shared over the group (initialised to
            zero).
        device, dtype, generator: as :class:`~prodint.interaction.layer.InteractionLayer`.
    """

    def __init__(self, group: Group | str, in_channels: int, out_channels: int,
                 kernel_size: int, padding: int = 0, stride: int = 1, dilation: int = 1,
                 bias: bool = True, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(group, in_channels, out_channels, kernel_size, padding, stride,
                         dilation, bias, lifting=False, device=device, dtype=dtype,
                         generator=generator)

