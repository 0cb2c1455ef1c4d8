"""Registry entries: group convolutions, Clifford and algebra layers, the symmetry layers.

See :mod:`prodint.families`. Every layer here states its weight tying in its expression (the
filter bank of a group convolution, the structure-constant fold of the Clifford and algebra
layers, the Clebsch–Gordan paths of the tensor products, the harmonic filter basis), so the
registry test checks the tie's forward, compiled and node-by-node executions against each
other. Configurations are small: each case runs in well under a second.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from prodint.algebra import (
    Algebra,
    clifford,
    complex_numbers,
    from_structure_constants,
    group_algebra,
    hadamard,
    quaternions,
)
from prodint.groups import cyclic
from prodint.interaction.registry import Case, Family, choice, randn
from prodint.nn.product_linear import ProductLinear
from prodint.symmetry.harmonic_conv import HarmonicConv2d
from prodint.symmetry.linear import Linear
from prodint.symmetry.tensor_product import ChannelwiseTensorProduct, TensorProduct
from prodint.zoo.clifford import CliffordConv1d, CliffordConv2d, CliffordConv3d, CliffordLinear
from prodint.zoo.group_conv import GroupConv2d, LiftingConv2d, grid_group

F64 = torch.float64
SIGNATURES = ((1, 1), (-1,), (1, -1, 0), (-1, 1))


def _group_conv(group_name: str, lifting: bool):
    def build(g: torch.Generator) -> Case:
        order = grid_group(group_name).order
        c, o, k = choice(g, [1, 2]), choice(g, [1, 2]), choice(g, [1, 3])
        stride, dilation = choice(g, [1, 2]), choice(g, [1, 2])
        cls = LiftingConv2d if lifting else GroupConv2d
        layer = cls(group_name, c, o, k, padding=choice(g, [0, 1]) if k > 1 else 0,
                    stride=stride, dilation=dilation, bias=bool(choice(g, [0, 1])), dtype=F64,
                    generator=g)
        # a grid whose strided output stays symmetric (the layer refuses the others)
        size = next(s for s in (9, 8, 7) if (s + 2 * layer.padding - dilation * (k - 1) - 1)
                    % stride == 0)
        shape = (2, c, size, size) if lifting else (2, c, order, size, size)
        return Case(layer, (randn(g, *shape),), 1)

    return build


def _clifford_linear(g: torch.Generator) -> Case:
    signature = choice(g, SIGNATURES)
    c, o = choice(g, [1, 3]), choice(g, [2, 4])
    layer = CliffordLinear(signature, c, o, bias=bool(choice(g, [0, 1])), dtype=F64,
                           generator=g)
    return Case(layer, (randn(g, 2, 3, c, layer.n_blades),), 1)


def _clifford_conv(dims: int):
    def build(g: torch.Generator) -> Case:
        signature = choice(g, SIGNATURES[:2] if dims == 3 else SIGNATURES)
        c, o = choice(g, [1, 2]), choice(g, [1, 3])
        cls = (CliffordConv1d, CliffordConv2d, CliffordConv3d)[dims - 1]
        layer = cls(signature, c, o, kernel_size=choice(g, [1, 2, 3]),
                    stride=choice(g, [1, 2]), padding=choice(g, [0, 1]),
                    dilation=choice(g, [1, 2]), bias=bool(choice(g, [0, 1])), dtype=F64,
                    generator=g)
        size = (9, 7, 5)[dims - 1]
        return Case(layer, (randn(g, 2, c, *(size,) * dims, layer.n_blades),), 1)

    return build


def _product_linear(make: Callable[[torch.Generator], Algebra]):
    def build(g: torch.Generator) -> Case:
        algebra = make(g).to(F64)
        c, o = choice(g, [1, 3]), choice(g, [2, 4])
        layer = ProductLinear(algebra, c, o, bias=bool(choice(g, [0, 1])), generator=g)
        return Case(layer, (randn(g, 2, 3, c, algebra.dim),), 1)

    return build


def _dense_algebra(g: torch.Generator) -> Algebra:
    """Random structure constants: every (a, c) meets every b (a fold of 3 terms)."""
    return from_structure_constants(randn(g, 3, 3, 3))


def _tensor_product(g: torch.Generator) -> Case:
    irreps1 = choice(g, ["2x0e + 1x1o", "1x0e + 2x1o + 1x2e"])
    irreps2 = choice(g, ["1x0e + 1x1o", "2x1o + 1x1e"])
    irreps_out = choice(g, ["2x0e + 1x1o + 1x1e", "1x0e + 1x0o + 2x1o + 1x2e"])
    layer = TensorProduct(irreps1, irreps2, irreps_out,
                          normalization=choice(g, ["component", "norm"]), dtype=F64,
                          generator=g)
    return Case(layer, (randn(g, 3, layer.irreps1.dim), randn(g, 3, layer.irreps2.dim)), 2)


def _channelwise_tensor_product(g: torch.Generator) -> Case:
    irreps1 = choice(g, ["2x0e + 1x1o", "1x0e + 2x1o + 1x2e"])
    targets = choice(g, [["0e", "1o"], ["0e", "1o", "1e", "2e"]])
    layer = ChannelwiseTensorProduct(irreps1, "1x0e + 1x1o + 1x2e", targets, dtype=F64)
    n = 4
    inputs = (randn(g, n, layer.irreps1.dim), randn(g, n, layer.irreps2.dim),
              randn(g, n, layer.weight_numel))
    return Case(layer, inputs, 2)


def _linear(g: torch.Generator) -> Case:
    irreps_in = choice(g, ["3x0e + 2x1o", "1x0e + 1x0o + 2x1o + 1x2e"])
    irreps_out = choice(g, ["2x0e + 1x1o + 1x1e", "1x0e + 3x1o + 1x2e"])
    layer = Linear(irreps_in, irreps_out, bias=bool(choice(g, [0, 1])), dtype=F64,
                   generator=g)
    return Case(layer, (randn(g, 2, 3, layer.irreps_in.dim),), 1)


def _harmonic_conv(g: torch.Generator) -> Case:
    irreps_in = choice(g, ["1x0", "1x0 + 1x1"])
    irreps_out = choice(g, ["1x0 + 1x1", "1x1 + 1x2"])
    layer = HarmonicConv2d(irreps_in, irreps_out, kernel_size=choice(g, [3, 5]),
                           padding=choice(g, [0, 1]), bias=bool(choice(g, [0, 1])), dtype=F64,
                           generator=g)
    return Case(layer, (randn(g, 2, layer.irreps_in.dim, 7, 7),), 1)


FAMILIES: tuple[Family, ...] = (
    Family("zoo.LiftingConv2d.C4", _group_conv("C4", True)),
    Family("zoo.LiftingConv2d.D4", _group_conv("D4", True)),
    Family("zoo.GroupConv2d.C4", _group_conv("C4", False), compile=True),
    Family("zoo.GroupConv2d.D4", _group_conv("D4", False)),
    Family("zoo.CliffordLinear", _clifford_linear),
    Family("zoo.CliffordConv1d", _clifford_conv(1)),
    Family("zoo.CliffordConv2d", _clifford_conv(2)),
    Family("zoo.CliffordConv3d", _clifford_conv(3)),
    Family("nn.ProductLinear.C", _product_linear(lambda g: complex_numbers()), compile=True),
    Family("nn.ProductLinear.H", _product_linear(lambda g: quaternions())),
    Family("nn.ProductLinear.Cl(2,1,0)", _product_linear(lambda g: clifford(2, 1))),
    Family("nn.ProductLinear.R[C3]", _product_linear(lambda g: group_algebra(cyclic(3)))),
    Family("nn.ProductLinear.Hadamard3", _product_linear(lambda g: hadamard(3))),
    Family("nn.ProductLinear.dense", _product_linear(_dense_algebra)),
    Family("symmetry.TensorProduct", _tensor_product),
    Family("symmetry.ChannelwiseTensorProduct", _channelwise_tensor_product),
    Family("symmetry.Linear", _linear),
    Family("symmetry.HarmonicConv2d", _harmonic_conv),
)
