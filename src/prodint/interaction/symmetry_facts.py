"""Symmetry as an operation on expressions, as executable facts.

Each fact builds a layer by :func:`~prodint.interaction.constrain.constrain` on a plain
expression and measures it against the classical layer it should be, in float64:

- a dense layer on an ``n×n`` grid constrained by the translations ``Z_n × Z_n`` (acting on
  its input and output legs) is a circular convolution with an ``n×n`` kernel (against
  ``F.conv2d`` on a circularly padded input, the kernel read off the dense weight);
- adding a locality support (offsets within a ``k×k`` window) gives a ``k×k`` kernel:
  ``k² · C · O`` weights;
- constrained by the translations and by ``C4`` (or ``D4``) acting on the grid and, by the
  regular representation, on a group axis, it is a group convolution
  ``y[o, g] = Σ_{c,h} f[c, h] ⋆ T_g ψ[o, c, g⁻¹h]`` (the convention of
  ``prodint.zoo.group_conv``, here with circular padding), with the same parameter count as
  ``prodint.zoo.GroupConv2d``;
- the structure constants of a learned algebra constrained by ``C_n`` (regular) on the legs
  ``(b, c)`` contain the group algebra ``R[C_n]`` (its distance to the constrained space is
  rounding), on all three legs they do not (distance ``sqrt(11/12) = 0.957`` at ``n = 12``).

:func:`symmetry_facts` returns them as rows ``(name, residual, parameters)`` for reports.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.algebra import LearnedAlgebra, group_algebra
from prodint.algebra.learned import LEGS
from prodint.groups import (
    Group,
    cyclic,
    dihedral,
    grid_rotations,
    grid_translations,
    regular,
    regular_permutation,
)
from prodint.interaction.constrain import constrain
from prodint.interaction.expr import Expr, Parameter, Signal
from prodint.interaction.layer import InteractionLayer, compile
from prodint.interaction.products import Contract, Sum

__all__ = [
    "Fact",
    "group_convolution_layer",
    "learned_algebra_residual",
    "symmetry_facts",
    "translation_dense_layer",
]

F64 = torch.float64


class Fact(NamedTuple):
    """One executable fact: what it states, the residual measured, the parameter count."""

    name: str
    residual: float
    parameters: int


def _window(n: int, k: int) -> Tensor:
    """``[n, n, n, n]`` mask of the point pairs ``(y, x), (yo, xo)`` whose circular offset
    ``(y - yo, x - xo)`` lies in the centred ``k×k`` window."""
    r = k // 2
    coords = torch.arange(n)
    near = ((coords[:, None] - coords[None, :] + r) % n) < k  # [y, yo]
    return near[:, None, :, None] & near[None, :, None, :]


def translation_dense_layer(channels: int, out: int, size: int, *, kernel: int | None = None,
                            generator: torch.Generator | None = None) -> InteractionLayer:
    """``Y[o, yo, xo] = Σ_{c,y,x} X[c, y, x] W[c, y, x, o, yo, xo]`` constrained by the
    translations of the ``size×size`` torus (and, with ``kernel``, by a ``k×k`` support).

    Input ``[B, channels, size, size]``, output ``[B, out, size, size]``; float64.
    """
    x = Signal("X", [("c", channels), ("y", size), ("x", size)])
    weight = Parameter("W", [("c", channels), ("y", size), ("x", size), ("o", out),
                             ("yo", size), ("xo", size)], fan_in=("c", "y", "x"))
    t = grid_translations((size, size))
    support = None if kernel is None else _window(size, kernel)[None, :, :, None]
    expr = constrain(Contract(x, weight, over=("c", "y", "x")), "W",
                     {("y", "x"): t, ("yo", "xo"): t}, support=support)
    return compile(expr, dtype=F64, generator=generator)


def group_convolution_layer(group: Group, channels: int, out: int, size: int, kernel: int, *,
                            generator: torch.Generator | None = None) -> InteractionLayer:
    """A dense map ``f[c, h, y, x] → y[o, g, yo, xo]`` plus a bias ``b[o, g, yo, xo]``,
    constrained by the translations of the torus, by ``group`` (``C4`` / ``D4``) turning the
    grid and acting on ``h`` and ``g`` by its regular representation, and by a ``k×k``
    support: a group convolution with circular padding.

    Input ``[B, channels, |G|, size, size]``, output ``[B, out, |G|, size, size]``; float64.
    """
    order = group.order
    x = Signal("X", [("c", channels), ("h", order), ("y", size), ("x", size)])
    weight = Parameter("W", [("c", channels), ("h", order), ("y", size), ("x", size),
                             ("o", out), ("g", order), ("yo", size), ("xo", size)],
                       init="uniform", fan_in=("c", "h", "y", "x"))
    bias = Parameter("b", [("o", out), ("g", order), ("yo", size), ("xo", size)], init="zeros")
    expr: Expr = Sum(Contract(x, weight, over=("c", "h", "y", "x")), bias)
    t, r = grid_translations((size, size)), grid_rotations(group, size)
    point = regular_permutation(group)
    support = _window(size, kernel)[None, None, :, :, None, None]
    expr = constrain(expr, "W", [{("y", "x"): t, ("yo", "xo"): t},
                                 {("y", "x"): r, "h": point, ("yo", "xo"): r, "g": point}],
                     support=support)
    expr = constrain(expr, "b", [{("yo", "xo"): t}, {("yo", "xo"): r, "g": point}])
    return compile(expr, dtype=F64, generator=generator)


def learned_algebra_residual(n: int, legs: tuple[str, ...]) -> tuple[float, int]:
    """``(||Γ - P Γ|| / ||Γ||, dimension)`` for ``Γ`` of ``R[C_n]`` and the structure
    constants equivariant under ``C_n`` (regular) on ``legs``."""
    rep = regular(cyclic(n))
    alg = LearnedAlgebra(n, symmetry=rep, mode="regularized", legs=legs).double()
    target = group_algebra(cyclic(n)).structure_constants.to(F64)
    with torch.no_grad():
        alg.gamma.copy_(target)
    residual = math.sqrt(float(alg.symmetry_penalty().detach())) / float(target.norm())
    constrained = LearnedAlgebra(n, symmetry=rep, mode="constrained", legs=legs)
    return residual, constrained.theta.numel()


def _turn(group: Group, element: int, image: Tensor) -> Tensor:
    """``T_g`` on the last two axes: mirror (``D_n``) first, then ``4/n`` quarter turns."""
    n = group.order if group.name.startswith("C") else group.order // 2
    k, f = element % n, element // n
    image = torch.flip(image, (-1,)) if f else image
    return torch.rot90(image, k * (4 // n), (-2, -1))


def _circular_group_convolution(group: Group, f: Tensor, psi: Tensor, bias: Tensor) -> Tensor:
    """``y[o, g] = Σ_{c,h} f[c, h] ⋆ T_g ψ[o, c, g⁻¹h] + b[o]`` with circular padding."""
    r = psi.shape[-1] // 2
    padded = F.pad(f.flatten(1, 2), (r, r, r, r), mode="circular")
    table, inverse = group.table, group.inverse
    outputs = []
    for g in range(group.order):
        bank = _turn(group, g, psi[:, :, table[inverse[g]]])  # T_g ψ[o, c, g⁻¹h]
        outputs.append(F.conv2d(padded, bank.flatten(1, 2)))
    return torch.stack(outputs, 2) + bias[:, None, None, None]


def _scale(t: Tensor) -> float:
    return max(1.0, float(t.abs().max()))


def symmetry_facts(generator: torch.Generator | None = None) -> list[Fact]:
    """The facts of the module doc, measured in float64 (residuals relative to the output
    scale; about 1e-15 when the fact holds)."""
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    facts = []
    c, o, n = 2, 3, 6
    x = torch.randn(2, c, n, n, dtype=F64, generator=gen)
    for kernel in (None, 3):
        layer = translation_dense_layer(c, o, n, kernel=kernel, generator=gen)
        k = n if kernel is None else kernel
        r = k // 2
        with torch.no_grad():
            units = torch.eye(c * n * n, dtype=F64).view(-1, c, n, n)
            dense = layer(units).view(c, n, n, o, n, n)  # W[c, y, x, o, yo, xo]
            taps = (torch.arange(k) - r) % n
            weight = dense[:, taps][:, :, taps][..., 0, 0].permute(3, 0, 1, 2)  # [o, c, k, k]
            padded = F.pad(x, (r, k - 1 - r, r, k - 1 - r), mode="circular")
            expected = F.conv2d(padded, weight)
            residual = float((layer(x) - expected).abs().max()) / _scale(expected)
        what = (f"dense on a {n}x{n} grid + translations = circular convolution, {n}x{n} kernel"
                if kernel is None else f"+ a {k}x{k} support = {k}x{k} circular convolution")
        facts.append(Fact(what, residual, sum(p.numel() for p in layer.parameters())))
    for group, label in ((cyclic(4), "p4"), (dihedral(4), "p4m")):
        size, k = 5, 3
        layer = group_convolution_layer(group, c, o, size, k, generator=gen)
        order = group.order
        f = torch.randn(2, c, order, size, size, dtype=F64, generator=gen)
        with torch.no_grad():
            shape = (c, order, size, size)
            units = torch.eye(math.prod(shape), dtype=F64).view(-1, *shape)
            bias = layer(torch.zeros(1, *shape, dtype=F64))[0]  # [o, g, yo, xo]
            dense = (layer(units) - bias).view(*shape, o, order, size, size)
            taps = (torch.arange(k) - k // 2) % size
            psi = dense[:, :, taps][:, :, :, taps][..., 0, 0, 0].permute(4, 0, 1, 2, 3)
            expected = _circular_group_convolution(group, f, psi, bias[:, 0, 0, 0])
            residual = float((layer(f) - expected).abs().max()) / _scale(expected)
        facts.append(Fact(f"+ {group.name} on the grid and a group axis = {label} group "
                          f"convolution, {k}x{k}", residual,
                          sum(p.numel() for p in layer.parameters())))
    for legs, verb in ((("b", "c"), "contains"), (LEGS, "excludes")):
        residual, count = learned_algebra_residual(12, legs)
        facts.append(Fact(f"learned algebra, C12 on legs {''.join(legs)}, {verb} R[C12] "
                          "(distance)", residual, count))
    return facts
