"""Learned structure constants inside expressions: compiled, trained, still equivariant."""

import torch

from prodint.groups import dihedral, regular
from prodint.interaction import LearnedAlgebra, Product, Signal, compile
from prodint.testing import assert_equivariant


def test_constrained_product_stays_equivariant_through_training() -> None:
    torch.manual_seed(0)
    rep = regular(dihedral(4))
    alg = LearnedAlgebra(8, symmetry=rep, mode="constrained").double()
    expr = Product(Signal("X", [("a", 8, alg)]), Signal("Y", [("a", 8, alg)]), alg, "a")
    assert expr.self_interaction_order == 2
    module = compile(expr, dtype=torch.float64)
    assert [n for n, _ in module.named_parameters()] == ["algebras.a0.theta"]
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    x, y = torch.randn(2, 16, 8, dtype=torch.float64)
    target = torch.randn(16, 8, dtype=torch.float64)
    first = None
    for _ in range(20):
        opt.zero_grad()
        loss = (module(x, y) - target).pow(2).mean()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first
    assert_equivariant(module, (x, y), rep, rep)
    torch.testing.assert_close(module(x, y), module.reference(x, y))


def test_regularized_penalty_is_a_training_signal() -> None:
    torch.manual_seed(0)
    rep = regular(dihedral(3))
    alg = LearnedAlgebra(6, symmetry=rep, mode="regularized").double()
    start = alg.symmetry_penalty().item()
    opt = torch.optim.SGD(alg.parameters(), lr=0.2)
    for _ in range(50):
        opt.zero_grad()
        alg.symmetry_penalty().backward()
        opt.step()
    assert alg.symmetry_penalty().item() < 1e-3 * start
