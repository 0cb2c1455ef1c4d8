"""Every linear family of the registry: its direct kernel and its sparse matrix agree
(forward and every gradient, float64 and float32)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

from prodint.families import families
from prodint.interaction import InteractionLayer
from prodint.spans.lowering import check_linear
from prodint.sparse import SparseLayer, to_sparse_matrix

#: Families that must lower (a regression refusing one of them fails the coverage test).
LINEAR = {
    "library.dense", "library.conv1d", "library.linear_recurrence", "zoo.Dense", "zoo.Conv1d",
    "zoo.Conv2d", "zoo.Conv3d", "zoo.ConvTranspose1d", "zoo.ConvTranspose2d",
    "zoo.LiftingConv2d.C4", "zoo.LiftingConv2d.D4", "zoo.GroupConv2d.C4",
    "zoo.GroupConv2d.D4", "zoo.CliffordLinear", "zoo.CliffordConv1d", "zoo.CliffordConv2d",
    "zoo.CliffordConv3d", "nn.ProductLinear.C", "nn.ProductLinear.H",
    "nn.ProductLinear.Cl(2,1,0)", "nn.ProductLinear.R[C3]", "nn.ProductLinear.Hadamard3",
    "nn.ProductLinear.dense", "symmetry.Linear", "symmetry.HarmonicConv2d",
    "constrained.translation_dense", "constrained.group_layer", "constrained.so3_vector_map",
    "train.higher_order.order1",
}


def _linear(layer: nn.Module) -> bool:
    if not isinstance(layer, InteractionLayer):
        return False
    try:
        check_linear(layer.expression)
    except ValueError:
        return False
    return True


def test_the_linear_families_are_the_expected_ones() -> None:
    g = torch.Generator().manual_seed(0)
    found = {name for name, f in families().items() if _linear(f.build(g).layer)}
    assert found == LINEAR


def _grads(module: nn.Module, x: Tensor, probe: Tensor) -> list[Tensor]:
    x = x.detach().clone().requires_grad_()
    y = module(x)
    loss = (y * probe).sum()
    return [y.detach(), *torch.autograd.grad(loss, [x, *module.parameters()])]


@pytest.mark.parametrize("name", sorted(LINEAR))
@pytest.mark.parametrize("seed", [0, 1])
def test_direct_and_sparse_agree(name: str, seed: int) -> None:
    case = families()[name].build(torch.Generator().manual_seed(seed))
    layer, x = case.layer, case.inputs[0]
    probe = torch.randn(layer(x).shape, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(seed + 10))
    direct = _grads(layer, x, probe)
    sparse = _grads(SparseLayer(layer), x, probe)
    for a, b in zip(direct, sparse, strict=True):
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-10)
    m, bias = to_sparse_matrix(layer, tuple(x.shape))
    assert torch.allclose(m @ x.flatten() + bias, direct[0].flatten(), atol=1e-10)
    single = copy.deepcopy(layer).float()
    x32, probe32 = x.float(), probe.float()
    for a, b in zip(_grads(single, x32, probe32), _grads(SparseLayer(single), x32, probe32),
                    strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
