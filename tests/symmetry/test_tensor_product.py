"""Tensor products: fast kernel vs the dense oracle and the paths' expression (forward,
gradients), equivariance of the layer and of its compiled expression."""

import pytest
import torch

from prodint.interaction import compile
from prodint.symmetry.irreps import Irreps
from prodint.symmetry.so3 import random_rotation
from prodint.symmetry.tensor_product import ChannelwiseTensorProduct, TensorProduct
from prodint.testing.equivariance import assert_equivariant

F64 = torch.float64
CASES = [
    ("16x0e + 16x1o", "16x0e + 16x1o", "16x0e + 16x1o"),
    ("2x0e + 3x1o + 2x2e", "1x0e + 2x1o + 1x1e + 1x2o", "3x0e + 2x0o + 2x1o + 2x1e + 1x2e + 1x3o"),
]


def _inputs(tp, dtype: torch.dtype, batch: int = 7, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, tp.irreps1.dim, generator=g, dtype=F64).to(dtype).requires_grad_()
    y = torch.randn(batch, tp.irreps2.dim, generator=g, dtype=F64).to(dtype).requires_grad_()
    return x, y


@pytest.mark.parametrize("irreps", CASES)
def test_fast_kernel_and_expression_match_the_oracle(irreps, dtype, tol) -> None:
    torch.manual_seed(0)
    tp = TensorProduct(*irreps).to(dtype)
    x, y = _inputs(tp, dtype)
    ref = tp.oracle(x, y)
    scale = float(ref.detach().abs().max())
    grad_out = torch.randn_like(ref)
    g_ref = torch.autograd.grad(ref, (x, y, tp.param("W")), grad_out)
    for fn in (tp, tp.general, tp.reference):
        out = fn(x, y)
        assert float((out - ref).detach().abs().max()) <= tol * scale
        for a, b in zip(torch.autograd.grad(out, (x, y, tp.param("W")), grad_out), g_ref,
                        strict=True):
            assert float((a - b).abs().max()) <= tol * max(1.0, float(b.abs().max()))
    assert tp.self_interaction_order == 2
    assert [p.name for p in tp.expression.parameters()] == ["W"]


def test_leading_dimensions_and_component_normalization() -> None:
    torch.manual_seed(0)
    tp = TensorProduct(*CASES[0])
    x = torch.randn(3, 4, tp.irreps1.dim)
    y = torch.randn(3, 4, tp.irreps2.dim)
    out = tp(x, y)
    assert out.shape == (3, 4, tp.irreps_out.dim)
    assert torch.allclose(out.reshape(12, -1), tp(x.reshape(12, -1), y.reshape(12, -1)))
    # Unit-variance inputs and N(0, 1) weights give unit-variance outputs.
    big = tp(torch.randn(4096, 64), torch.randn(4096, 64))
    assert 0.85 < float(big.detach().std()) < 1.15


def test_equivariant_under_rotations_and_reflections() -> None:
    torch.manual_seed(0)
    tp = TensorProduct(*CASES[1]).double()
    x, y = (t.detach() for t in _inputs(tp, F64))
    error = assert_equivariant(tp, (x, y), [tp.irreps1.representation(),
                                            tp.irreps2.representation()],
                               tp.irreps_out.representation(), n_samples=3)
    assert error < 1e-10
    reflections = [-random_rotation(generator=torch.Generator().manual_seed(s)) for s in (1, 2)]
    assert_equivariant(tp, (x, y),
                       actions_in=[lambda q, t: t @ tp.irreps1.D(q).T,
                                   lambda q, t: t @ tp.irreps2.D(q).T],
                       action_out=lambda q, t: t @ tp.irreps_out.D(q).T,
                       elements=reflections)


def test_compiled_expression_is_the_tensor_product() -> None:
    """The expression alone, with fresh weights: the layer's weight count, exact equivariance
    under rotations and reflections."""
    tp = TensorProduct(*CASES[1])
    layer = compile(tp.expression, dtype=F64, generator=torch.Generator().manual_seed(3))
    assert sum(p.numel() for p in layer.parameters()) == tp.param("W").numel() == \
        sum(p.mul1 * p.mul2 * p.mul_out for p in tp.paths)
    x, y = (t.detach() for t in _inputs(tp, F64))
    error = assert_equivariant(layer, (x, y), [tp.irreps1.representation(),
                                               tp.irreps2.representation()],
                               tp.irreps_out.representation(), n_samples=3, atol=1e-12,
                               rtol=1e-12)
    assert error < 1e-12
    reflection = -random_rotation(generator=torch.Generator().manual_seed(4))
    assert_equivariant(layer, (x, y),
                       actions_in=[lambda q, t: t @ tp.irreps1.D(q).T,
                                   lambda q, t: t @ tp.irreps2.D(q).T],
                       action_out=lambda q, t: t @ tp.irreps_out.D(q).T,
                       elements=[reflection], atol=1e-12, rtol=1e-12)


def test_bad_layouts_are_named() -> None:
    tp = TensorProduct("2x0e + 1x1o", "1x1o", "1x0e + 1x1o")
    with pytest.raises(ValueError, match=r"x: expected shape \[\.\.\., 5\] for irreps "
                                         r"2x0e \+ 1x1o, received \(4, 6\)"):
        tp(torch.zeros(4, 6), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"y: expected shape \[\.\.\., 3\]"):
        tp(torch.zeros(4, 5), torch.zeros(4, 4))
    with pytest.raises(ValueError, match=r"y: expected leading shape \(4,\)"):
        tp(torch.zeros(4, 5), torch.zeros(2, 3))
    with pytest.raises(TypeError, match=r"x: expected a torch\.Tensor"):
        tp([0.0] * 5, torch.zeros(3))
    with pytest.raises(ValueError, match="normalization"):
        TensorProduct("1x0e", "1x0e", "1x0e", normalization="unit")
    with pytest.raises(ValueError, match=r"irreps_out: no irrep of 1x1e is in"):
        TensorProduct("1x0e", "1x0e", "1x1e")


def test_channelwise_matches_the_oracle_and_its_structure_constants(dtype, tol) -> None:
    torch.manual_seed(0)
    tp = ChannelwiseTensorProduct("3x0e + 2x1o + 1x2e", "1x0e + 1x1o + 1x2e",
                                  ["0e", "0o", "1o", "1e", "2e"], dtype=dtype)
    assert str(tp.irreps_out).startswith("3x0e + 3x1o + 3x2e")
    g = torch.Generator().manual_seed(1)
    n = 9
    x = torch.randn(n, tp.irreps1.dim, generator=g, dtype=F64).to(dtype).requires_grad_()
    y = torch.randn(n, tp.irreps2.dim, generator=g, dtype=F64).to(dtype).requires_grad_()
    w = torch.randn(n, tp.weight_numel, generator=g, dtype=F64).to(dtype).requires_grad_()
    ref = tp.oracle(x, y, w)
    grad_out = torch.randn_like(ref)
    g_ref = torch.autograd.grad(ref, (x, y, w), grad_out)
    for fn in (tp, tp.general, tp.reference):
        out = fn(x, y, w)
        assert float((out - ref).detach().abs().max()) <= tol * float(ref.detach().abs().max())
        for a, b in zip(torch.autograd.grad(out, (x, y, w), grad_out), g_ref, strict=True):
            assert float((a - b).abs().max()) <= tol * max(1.0, float(b.abs().max()))
    assert tp.self_interaction_order == 2 and not list(tp.parameters())
    gamma = tp.structure_constants(w)
    dense = torch.einsum("nabc,na,nb->nc", gamma, x, y)
    assert float((dense - ref).detach().abs().max()) <= tol * float(ref.detach().abs().max())
    with pytest.raises(ValueError, match=r"weight: expected shape \[9, "):
        tp(x, y, w[:, :-1])


def test_channelwise_is_equivariant() -> None:
    torch.manual_seed(0)
    tp = ChannelwiseTensorProduct("2x0e + 2x1o", "1x0e + 1x1o + 1x2e", ["0e", "1o", "1e", "2e"],
                                  dtype=F64)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, tp.irreps1.dim, generator=g, dtype=F64)
    y = torch.randn(5, tp.irreps2.dim, generator=g, dtype=F64)
    w = torch.randn(5, tp.weight_numel, generator=g, dtype=F64)
    assert_equivariant(tp, (x, y, w), [tp.irreps1.representation(),
                                       tp.irreps2.representation(), None],
                       tp.irreps_out.representation(), n_samples=3)
    assert Irreps(tp.irreps_out).dim == tp(x, y, w).shape[-1]
