"""Learned structure constants written into expressions: same Γ, same layer, own parameters."""

from __future__ import annotations

import pytest
import torch

from prodint.algebra import LearnedAlgebra
from prodint.groups import cyclic, dihedral, regular, so3_vector
from prodint.interaction import Parameter, compile, evaluate, library
from prodint.interaction.learned import inline_learned, learned_structure_constants

F64 = torch.float64


def test_learned_structure_constants_match_the_algebra() -> None:
    for rep, legs in ((regular(cyclic(4)), ("a", "b", "c")), (regular(dihedral(3)), ("b", "c")),
                      (so3_vector(), ("a", "b", "c")), (so3_vector(), ("a", "c"))):
        alg = LearnedAlgebra(rep.dim, symmetry=rep, mode="constrained", legs=legs).double()
        gamma = learned_structure_constants(alg)
        (theta,) = gamma.parameters()
        assert theta.name == "theta" and theta.shape == tuple(alg.theta.shape)
        value = evaluate(gamma, {}, {"theta": alg.theta.detach()})
        torch.testing.assert_close(value, alg.structure_constants.detach(), rtol=0, atol=1e-14)
    free = learned_structure_constants(LearnedAlgebra(3))
    assert isinstance(free, Parameter) and free.shape == (3, 3, 3)


@pytest.mark.parametrize("mode", ["free", "constrained"])
def test_inline_learned_bilinear_equals_the_algebra_module(mode: str) -> None:
    rep = regular(cyclic(4))
    alg = LearnedAlgebra(4, symmetry=rep, mode=mode, legs=("b", "c")).double()
    expr = library.bilinear(3, alg)
    module = compile(expr, dtype=F64, generator=torch.Generator().manual_seed(1))
    inlined = compile(inline_learned(expr), dtype=F64)
    name = "theta" if mode == "constrained" else "gamma"
    assert sorted(inlined.params) == sorted(["W1", "W2", name])
    assert inlined.self_interaction_order == 2 and len(inlined.algebras) == 0
    own = alg.theta if mode == "constrained" else alg.gamma
    inlined.load_tensors(W1=module.params["W1"], W2=module.params["W2"], **{name: own})
    x = torch.randn(2, 5, 3, dtype=F64)
    torch.testing.assert_close(inlined(x), module(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(inlined.reference(x), module(x), rtol=0, atol=1e-12)
    assert inlined.expression.axes == expr.axes


def test_products_in_one_algebra_share_its_coefficients() -> None:
    from prodint.interaction import Product, Sum

    alg = LearnedAlgebra(4, symmetry=regular(cyclic(4)), mode="constrained").double()
    x = library.signal(3)
    u = library.projection(x, "W1", 4, out_axis="a")
    v = library.projection(x, "W2", 4, out_axis="a")
    expr = Sum(Product(u, v, alg, "a"), Product(v, u, alg, "a"))  # uv + vu
    inlined = compile(inline_learned(expr), dtype=F64)
    assert sorted(inlined.params) == ["W1", "W2", "theta"]
    module = compile(expr, dtype=F64)
    inlined.load_tensors(W1=module.params["W1"], W2=module.params["W2"], theta=alg.theta)
    xs = torch.randn(2, 5, 3, dtype=F64)
    torch.testing.assert_close(inlined(xs), module(xs), rtol=0, atol=1e-12)
    with pytest.raises(TypeError, match="expr: expected an Expr"):
        inline_learned("uv")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="algebra: expected a LearnedAlgebra"):
        learned_structure_constants(regular(cyclic(4)))  # type: ignore[arg-type]
