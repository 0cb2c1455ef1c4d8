"""assert_linear / assert_bilinear: pass on (bi)linear maps, name the failing argument."""

import pytest
import torch

from prodint.algebra import LearnedAlgebra, group_algebra, octonions
from prodint.groups import dihedral, regular
from prodint.testing import assert_bilinear, assert_linear, default_tolerance

F64 = torch.float64


def randn(*shape: int, dtype: torch.dtype = F64, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_algebra_products_are_bilinear(dtype: torch.dtype) -> None:
    rep = regular(dihedral(3))
    algebras = [
        LearnedAlgebra(6, symmetry=rep, mode="constrained").to(dtype),
        LearnedAlgebra(6).to(dtype),
        group_algebra(dihedral(3)).to(dtype),
    ]
    x, y = randn(4, 6, dtype=dtype), randn(4, 6, dtype=dtype, seed=1)
    for alg in algebras:
        error = assert_bilinear(alg.mul, x, y)
        assert 0.0 <= error <= 100 * default_tolerance(dtype)
    o = octonions().to(dtype)
    assert assert_bilinear(o.mul, randn(3, 8, dtype=dtype), randn(3, 8, dtype=dtype, seed=2)) >= 0
    a, b = randn(5, 3, dtype=dtype), randn(5, 3, dtype=dtype, seed=3)
    assert assert_bilinear(torch.linalg.cross, a, b) >= 0


def test_bilinear_with_broadcasting_and_different_shapes() -> None:
    x, w = randn(5, 3), randn(4, 3)
    assert assert_bilinear(lambda a, b: a @ b.T, x, w) < 1e-12


def test_quadratic_maps_fail_naming_the_argument() -> None:
    x, y = randn(4, 3), randn(4, 3, seed=1)
    with pytest.raises(AssertionError, match="not linear in its first argument x"):
        assert_bilinear(lambda a, b: a * a * b, x, y)
    with pytest.raises(AssertionError, match="not linear in its second argument y"):
        assert_bilinear(lambda a, b: a * b * b, x, y)
    with pytest.raises(AssertionError, match="first argument x"):
        assert_bilinear(lambda a, b: (a + b) ** 2, x, y)
    with pytest.raises(AssertionError, match=r"α = -?\d\.\d{4}, β = -?\d\.\d{4}"):
        assert_bilinear(lambda a, b: a * b + 1.0, x, y)


def test_linear() -> None:
    x, m = randn(6, 4), randn(3, 4, seed=1)
    assert assert_linear(lambda a: a @ m.T, x) < 1e-12
    assert assert_linear(lambda a: torch.fft.rfft(a).real, x) < 1e-12
    with pytest.raises(AssertionError, match="assert_linear: fn is not linear in its argument x"):
        assert_linear(torch.sin, x)
    with pytest.raises(AssertionError, match="not linear"):
        assert_linear(lambda a: a @ m.T + 0.1, x)
    with pytest.raises(AssertionError, match="not linear"):
        assert_linear(torch.abs, x)


def test_float32_rounding_passes_but_small_nonlinearity_fails() -> None:
    x = randn(64, 32, dtype=torch.float32)
    m = randn(32, 32, dtype=torch.float32, seed=1)
    assert assert_linear(lambda a: (a @ m) @ m, x) <= 1e-3
    with pytest.raises(AssertionError):
        assert_linear(lambda a: a @ m + 1e-2 * a**2, x)


def test_argument_validation() -> None:
    x = randn(3)
    with pytest.raises(TypeError, match="fn: expected a callable"):
        assert_bilinear(None, x, x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fn: expected a callable"):
        assert_linear("f", x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"y: expected a torch\.Tensor"):
        assert_bilinear(torch.mul, x, [1.0, 2.0, 3.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="x: expected a floating tensor"):
        assert_linear(torch.neg, torch.arange(3))
    with pytest.raises(TypeError, match="generator"):
        assert_linear(torch.neg, x, generator=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="atol"):
        assert_linear(torch.neg, x, atol=-1.0)
    with pytest.raises(TypeError, match=r"fn: expected to return a torch\.Tensor"):
        assert_linear(lambda a: float(a.sum()), x)
    with pytest.raises(AssertionError, match="output shape depends on the value"):
        assert_linear(lambda a: a[a > 0], randn(50))


def test_reproducible_with_generator() -> None:
    x, y = randn(4, 3), randn(4, 3, seed=1)

    def quad(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * a * b

    messages = []
    for _ in range(2):
        with pytest.raises(AssertionError) as info:
            assert_bilinear(quad, x, y, generator=torch.Generator().manual_seed(7))
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_a_function_returning_nan_or_inf_fails() -> None:
    x, y = randn(4, 3), randn(4, 3, seed=1)
    with pytest.raises(AssertionError, match=r"assert_linear: fn returned a non-finite output "
                                             r"\(NaN or inf\) for finite input x"):
        assert_linear(lambda a: torch.full_like(a, float("nan")), x)
    with pytest.raises(AssertionError, match=r"assert_bilinear: fn returned a non-finite"):
        assert_bilinear(lambda a, b: a * b / 0.0, x, y)
    calls: list[torch.Tensor] = []

    def third_call_nan(a: torch.Tensor) -> torch.Tensor:  # finite on x and x₂ only
        calls.append(a)
        return a * (float("nan") if len(calls) == 3 else 1.0)

    with pytest.raises(AssertionError, match=r"non-finite output .* for finite input α·x"):
        assert_linear(third_call_nan, x)


def test_inputs_and_tolerances_must_be_finite() -> None:
    x = randn(4, 3)
    x[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"x: expected finite values"):
        assert_linear(lambda a: 2 * a, x)
    with pytest.raises(ValueError, match=r"y: expected finite values"):
        assert_bilinear(lambda a, b: a * b, randn(4, 3), x)
    with pytest.raises(ValueError, match=r"x: expected values small enough"):
        assert_linear(lambda a: 2 * a, torch.full((2,), 1e308, dtype=F64))
    with pytest.raises(ValueError, match=r"atol: expected a finite number >= 0, received inf"):
        assert_linear(lambda a: 2 * a, randn(3), atol=float("inf"))
    with pytest.raises(ValueError, match=r"rtol: expected a finite number >= 0, received nan"):
        assert_bilinear(lambda a, b: a * b, randn(3), randn(3), rtol=float("nan"))
    with pytest.raises(ValueError, match=r"y: expected a tensor on cpu \(that of x\)"):
        assert_bilinear(lambda a, b: a * b, randn(3), randn(3).to("meta"))
