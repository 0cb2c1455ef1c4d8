"""ProductLinear: the folded single-matmul path equals the interaction, and known layers.

forward == general == reference over the registry is ``tests/test_families.py``; here the
algebra product itself (an independent einsum with the dense structure constants), known
layers and the initialisation."""

import pytest
import torch

from prodint.algebra import clifford, complex_numbers, group_algebra, quaternions
from prodint.groups import cyclic
from prodint.nn import ProductLinear

ALGEBRAS = {"C": complex_numbers, "H": quaternions, "Cl(3,0,0)": lambda: clifford(3),
            "Cl(0,1,0)": lambda: clifford(0, 1), "R[C5]": lambda: group_algebra(cyclic(5))}


@pytest.mark.parametrize("name", ALGEBRAS)
def test_fast_path_equals_interaction_forward_and_gradients(name: str, dtype, tol) -> None:
    torch.manual_seed(0)
    layer = ProductLinear(ALGEBRAS[name]().to(dtype), 3, 4)
    with torch.no_grad():
        layer.params["b"].normal_()
    x0 = torch.randn(2, 5, 3, layer.algebra.dim, dtype=dtype)
    w = torch.randn(2, 5, 4, layer.algebra.dim, dtype=dtype)
    gamma = layer.algebra.structure_constants  # [b, a, c]: K_b on the left of x_a

    def product(x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bac,iob,...ia->...oc", gamma, layer.params["K"], x) + \
            layer.params["b"]

    def run(fn):
        x = x0.clone().requires_grad_()
        layer.zero_grad()
        (fn(x) * w).sum().backward()
        return (fn(x).detach(), x.grad, layer.params["K"].grad.clone(),
                layer.params["b"].grad.clone())

    expected = run(product)
    for fn in (layer, layer.general, layer.reference):
        for a, b in zip(run(fn), expected, strict=True):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol * max(1.0, b.abs().max().item()))


def test_complex_layer_is_complex_matmul() -> None:
    layer = ProductLinear(complex_numbers().double(), 3, 2, bias=False)
    x = torch.randn(7, 3, 2, dtype=torch.float64)
    k = torch.view_as_complex(layer.params["K"].detach().contiguous())  # [i, o]
    expected = torch.view_as_real(torch.view_as_complex(x.contiguous()) @ k)
    torch.testing.assert_close(layer(x), expected)


def test_order_expression_and_parameter_count() -> None:
    layer = ProductLinear(quaternions(), 2, 3)
    assert layer.self_interaction_order == 1
    assert str(layer.expression) == "(Σ_i,a (X tie_fold(K)) + b)"
    # the fold is a tie: n numbers per channel pair, not the n² of the real weight
    assert sum(p.numel() for p in layer.parameters()) == 2 * 3 * 4 + 3 * 4
    assert layer.real_weight().shape == (2 * 4, 3 * 4)
    assert set(layer.state_dict()) == {"params.K", "params.b"}


def test_dtype_and_generator_factory_arguments() -> None:
    algebra = quaternions()  # float32
    layer = ProductLinear(algebra, 2, 3, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(1))
    assert layer.params["K"].dtype == torch.float64 and algebra.dtype == torch.float32
    assert layer.algebra.dtype == torch.float64
    assert {t.dtype for t in layer.tables().values() if t.is_floating_point()} == {torch.float64}
    again = ProductLinear(algebra, 2, 3, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(1))
    assert torch.equal(layer.params["K"], again.params["K"])


def test_variance_preserving_init() -> None:
    torch.manual_seed(0)
    layer = ProductLinear(clifford(3).double(), 64, 64, bias=False)
    x = torch.randn(512, 64, 8, dtype=torch.float64)
    assert abs(layer(x).var().item() - 1.0) < 0.1


def test_bad_input() -> None:
    layer = ProductLinear(quaternions(), 3, 2)
    with pytest.raises(ValueError, match=r"x: expected a tensor \[\.\.\., in_channels=3, 4\]"):
        layer(torch.randn(5, 3, 3))
    with pytest.raises(ValueError, match="in_channels: expected a positive int"):
        ProductLinear(quaternions(), 0, 2)
    with pytest.raises(TypeError, match="algebra: expected a prodint Algebra"):
        ProductLinear("H", 1, 1)  # type: ignore[arg-type]
