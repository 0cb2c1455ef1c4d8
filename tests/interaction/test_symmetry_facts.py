"""Symmetry as an operation on expressions: the facts, each against an independent oracle.

(a) translations make a dense layer on a grid a circular convolution (``F.conv2d``);
(b) a locality support makes the kernel ``k×k``; (c) translations with C4 / D4 on the grid
and a group axis make it a group convolution (an explicit per-element loop here, and
``GroupConv2d``'s parameter count); (d) learned structure constants constrained on the legs
``(b, c)`` contain ``R[C12]``, on all legs they do not.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from prodint.algebra import LearnedAlgebra, group_algebra
from prodint.groups import (
    cyclic,
    dihedral,
    grid_rotations,
    grid_translations,
    regular,
    regular_permutation,
)
from prodint.interaction import Contract, Parameter, Signal, Sum, compile, constrain, evaluate
from prodint.interaction.symmetry_facts import symmetry_facts
from prodint.testing import assert_equivariant
from prodint.zoo import GroupConv2d

F64 = torch.float64


def grid_layer(c: int, o: int, n: int, support: torch.Tensor | None = None):
    x = Signal("X", [("c", c), ("y", n), ("x", n)])
    w = Parameter("W", [("c", c), ("y", n), ("x", n), ("o", o), ("yo", n), ("xo", n)],
                  fan_in=("c", "y", "x"))
    t = grid_translations((n, n))
    expr = constrain(Contract(x, w, over=("c", "y", "x")), "W",
                     {("y", "x"): t, ("yo", "xo"): t}, support=support)
    return compile(expr, dtype=F64, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("n", [5, 6])
def test_a_translations_give_circular_convolution(n: int) -> None:
    c, o = 2, 3
    layer = grid_layer(c, o, n)
    theta = layer.params["W_theta"].detach()  # [n·n offsets, c, o]
    assert sum(p.numel() for p in layer.parameters()) == n * n * c * o
    # W[c, y, x, o, yo, xo] = θ[((yo - y) % n)·n + (xo - x) % n, c, o]; F.conv2d correlates,
    # out[yo, xo] = Σ K[ky, kx] x[yo + ky - r, xo + kx - r], so K[ky, kx] = W[ky - r, kx - r, 0, 0].
    r = n // 2
    kernel = torch.empty(o, c, n, n, dtype=F64)
    for ky in range(n):
        for kx in range(n):
            kernel[:, :, ky, kx] = theta[((r - ky) % n) * n + (r - kx) % n].T
    x = torch.randn(3, c, n, n, dtype=F64)
    expected = F.conv2d(F.pad(x, (r, n - 1 - r, r, n - 1 - r), mode="circular"), kernel)
    torch.testing.assert_close(layer(x).detach(), expected, rtol=0, atol=1e-12)
    assert_equivariant(layer, (x,), actions_in=lambda s, v: torch.roll(v, s, (-2, -1)),
                       action_out=lambda s, v: torch.roll(v, s, (-2, -1)),
                       elements=[(1, 0), (0, 2), (3, 4)], atol=1e-12, rtol=0)


def test_b_a_locality_support_gives_a_k_by_k_kernel() -> None:
    c, o, n, k = 2, 3, 7, 3
    coords = torch.arange(n)
    near = ((coords[:, None] - coords[None, :] + 1) % n) < k  # y - yo in {-1, 0, 1}
    support = (near[:, None, :, None] & near[None, :, None, :])[None, :, :, None]
    layer = grid_layer(c, o, n, support)
    conv = torch.nn.Conv2d(c, o, k, padding=1, padding_mode="circular", bias=False)
    assert sum(p.numel() for p in layer.parameters()) == k * k * c * o == conv.weight.numel()
    theta = layer.params["W_theta"].detach()  # [k·k, c, o]
    # Orbits numbered by first appearance from (y, x) = (0, 0): (yo, xo) over (0, 1, n-1)².
    first = [0, 1, n - 1]
    kernel = torch.empty(o, c, k, k, dtype=F64)
    for ky in range(k):
        for kx in range(k):
            label = first.index((1 - ky) % n) * k + first.index((1 - kx) % n)
            kernel[:, :, ky, kx] = theta[label].T
    x = torch.randn(3, c, n, n, dtype=F64)
    expected = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), kernel)
    torch.testing.assert_close(layer(x).detach(), expected, rtol=0, atol=1e-12)


def transform(group, element: int, image: torch.Tensor) -> torch.Tensor:
    """``T_g``: mirror (D4, ``g = r^k s``) then ``k`` quarter turns, as ``transform_grid``."""
    k, f = element % 4, element // 4
    image = torch.flip(image, (-1,)) if f else image
    return torch.rot90(image, k, (-2, -1))


def act(group, u: int, f: torch.Tensor) -> torch.Tensor:
    """``(u · f)[c, h] = T_u f[c, u⁻¹h]`` on ``[B, C, |G|, H, W]``."""
    source = group.table[int(group.inverse[u])]  # h ↦ u⁻¹h
    return transform(group, u, f[:, :, source])


def oracle_group_conv(group, f: torch.Tensor, psi: torch.Tensor, bias: torch.Tensor):
    """Per element ``g``: move the input by ``g⁻¹``, correlate with ``ψ`` (circular padding),
    move the result back: ``y[:, :, g] = T_g ((g⁻¹ · f) ⋆ ψ)``."""
    r = psi.shape[-1] // 2
    outputs = []
    for g in range(group.order):
        inverse = int(group.inverse[g])
        moved = transform(group, inverse, f)[:, :, group.table[g]]  # (g⁻¹·f)[h] = T f[g h]
        padded = F.pad(moved.flatten(1, 2), (r, r, r, r), mode="circular")
        outputs.append(transform(group, g, F.conv2d(padded, psi.flatten(1, 2))))
    return torch.stack(outputs, 2) + bias[:, None, None, None]


@pytest.mark.parametrize("group", [cyclic(4), dihedral(4)], ids=["C4", "D4"])
def test_c_rotations_and_a_group_axis_give_a_group_convolution(group) -> None:
    c, o, n, k = 2, 2, 5, 3
    order = group.order
    x = Signal("X", [("c", c), ("h", order), ("y", n), ("x", n)])
    w = Parameter("W", [("c", c), ("h", order), ("y", n), ("x", n), ("o", o), ("g", order),
                        ("yo", n), ("xo", n)], fan_in=("c", "h", "y", "x"))
    b = Parameter("b", [("o", o), ("g", order), ("yo", n), ("xo", n)])
    t, rot, reg = grid_translations((n, n)), grid_rotations(group, n), regular(group)
    coords = torch.arange(n)
    near = ((coords[:, None] - coords[None, :] + 1) % n) < k
    window = (near[:, None, :, None] & near[None, :, None, :])[None, None, :, :, None, None]
    expr = constrain(Sum(Contract(x, w, over=("c", "h", "y", "x")), b), "W",
                     [{("y", "x"): t, ("yo", "xo"): t},
                      {("y", "x"): rot, "h": reg, ("yo", "xo"): rot, "g": reg}],
                     support=window)
    expr = constrain(expr, "b", [{("yo", "xo"): t},
                                 {("yo", "xo"): rot, "g": regular_permutation(group)}])
    layer = compile(expr, dtype=F64, generator=torch.Generator().manual_seed(1))
    zoo = GroupConv2d(group, c, o, k, padding=1)
    assert sum(p.numel() for p in layer.parameters()) == \
        sum(p.numel() for p in zoo.parameters()) == o * c * order * k * k + o
    # ψ[o, c, h, ky, kx] = W[c, h, ky - 1, kx - 1, o, e, 0, 0], read off the dense weight.
    params = dict(layer.params.items())
    tables = layer.tables()
    weight = next(node for node in expr.walk() if getattr(node, "name", None) == "W")
    dense = evaluate(weight, {}, params, tables)  # [c, h, y, x, o, g, yo, xo]
    bias_node = next(node for node in expr.walk() if getattr(node, "name", None) == "b")
    bias = evaluate(bias_node, {}, params, tables).detach()
    taps = (torch.arange(k) - 1) % n
    psi = dense.detach()[:, :, taps][:, :, :, taps][..., 0, 0, 0].permute(4, 0, 1, 2, 3)
    f = torch.randn(2, c, order, n, n, dtype=F64)
    expected = oracle_group_conv(group, f, psi, bias[:, 0, 0, 0])
    torch.testing.assert_close(layer(f).detach(), expected, rtol=0, atol=1e-12)
    assert_equivariant(layer, (f,), actions_in=lambda u, v: act(group, u, v),
                       action_out=lambda u, v: act(group, u, v),
                       elements=list(range(order)), atol=1e-12, rtol=0)
    assert_equivariant(layer, (f,), actions_in=lambda s, v: torch.roll(v, s, (-2, -1)),
                       action_out=lambda s, v: torch.roll(v, s, (-2, -1)),
                       elements=[(1, 0), (2, 3)], atol=1e-12, rtol=0)


def fit(expr, target: torch.Tensor, name: str) -> float:
    """Least squares of the constrained Γ(θ) against ``target``: relative residual."""
    (theta,) = [p for p in expr.parameters() if p.name == name]
    columns = [evaluate(expr, {}, {name: u.view(theta.shape)}).reshape(-1)
               for u in torch.eye(math.prod(theta.shape), dtype=F64)]
    jacobian = torch.stack(columns, 1)
    best = torch.linalg.lstsq(jacobian, target.reshape(-1, 1)).solution
    return float((jacobian @ best - target.reshape(-1, 1)).norm() / target.norm())


def test_d_right_legs_reach_the_group_algebra_all_legs_do_not() -> None:
    n = 12
    rep = regular(cyclic(n))
    target = group_algebra(cyclic(n)).structure_constants.to(F64)
    gamma = Parameter("Gamma", [("a", n), ("b", n), ("c", n)])
    right = constrain(gamma, "Gamma", {"b": rep, "c": rep})
    every = constrain(gamma, "Gamma", {"a": rep, "b": rep, "c": rep})
    assert fit(right, target, "Gamma_theta") < 1e-12
    assert abs(fit(every, target, "Gamma_theta") - math.sqrt(11 / 12)) < 1e-12
    for legs, reached in ((("b", "c"), True), (("a", "b", "c"), False)):
        alg = LearnedAlgebra(n, symmetry=rep, mode="constrained", legs=legs).double()
        assert alg.theta.numel() == n * n
        gamma_of = Parameter("gamma", [("a", n), ("b", n), ("c", n)])
        assert (fit(constrain(gamma_of, "gamma", alg.leg_symmetry), target, "gamma_theta")
                < 1e-12) is reached


def test_the_facts_as_rows() -> None:
    facts = symmetry_facts()
    assert len(facts) == 6
    counts = [f.parameters for f in facts]
    group_counts = [sum(p.numel() for p in GroupConv2d(g, 2, 3, 3, padding=1).parameters())
                    for g in ("C4", "D4")]
    assert counts == [6 * 6 * 2 * 3, 3 * 3 * 2 * 3, *group_counts, 144, 144]
    for fact in facts[:5]:
        assert fact.residual < 1e-12, fact
    assert abs(facts[5].residual - math.sqrt(11 / 12)) < 1e-12
    assert all(isinstance(f.name, str) and f.name for f in facts)
