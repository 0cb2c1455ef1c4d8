"""Spherical harmonics: equivariance, normalisations, e3nn as oracle, bad input."""

import math

import pytest
import torch
from e3nn import o3

from prodint.groups import so3_vector
from prodint.symmetry.so3 import random_rotation, wigner_D
from prodint.symmetry.spherical_harmonics import sh_irreps, spherical_harmonics
from prodint.testing.equivariance import assert_equivariant

F64 = torch.float64


def points(n: int, dtype: torch.dtype = F64, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=F64).to(dtype)


def test_equivariance_Y_of_Rx_is_D_of_R_Y(dtype: torch.dtype, tol: float) -> None:
    ls = [0, 1, 2, 3, 4]
    rep_out = sh_irreps(ls).representation()
    error = assert_equivariant(lambda x: spherical_harmonics(ls, x), points(20, dtype),
                               so3_vector(), rep_out, n_samples=3, atol=tol, rtol=tol)
    assert error < tol
    r = random_rotation(generator=torch.Generator().manual_seed(1))
    x = points(10)
    for l in ls:
        moved = spherical_harmonics(l, x @ r.T)
        assert float((moved - spherical_harmonics(l, x) @ wigner_D(l, r).T).abs().max()) < 1e-12


@pytest.mark.parametrize("normalization, norm2", [
    ("component", lambda l: 2 * l + 1), ("norm", lambda l: 1.0),
    ("integral", lambda l: (2 * l + 1) / (4 * math.pi))])
def test_normalizations_fix_the_norm_on_the_sphere(normalization: str, norm2) -> None:
    x = points(50)
    for l in range(5):
        y = spherical_harmonics(l, x, normalization=normalization)
        assert torch.allclose((y * y).sum(-1), torch.full((50,), norm2(l), dtype=F64),
                              atol=1e-12)


def test_polynomial_form_and_polar_axis_sign() -> None:
    x = points(30)
    for l in range(4):
        raw = spherical_harmonics(l, x, normalize=False)
        unit = spherical_harmonics(l, x)
        assert float((raw - unit * x.norm(dim=-1, keepdim=True) ** l).abs().max()) < 1e-11
        pole = spherical_harmonics(l, torch.tensor([[0.0, 1.0, 0.0]], dtype=F64))[0]
        assert float(pole[l]) > 0 and float(pole.abs().sum() - pole[l].abs()) < 1e-12
    assert torch.equal(spherical_harmonics(2, torch.zeros(1, 3, dtype=F64)),
                       torch.zeros(1, 5, dtype=F64))


@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
def test_e3nn_oracle_basis_change_is_the_identity(normalization: str) -> None:
    """Least squares finds the matrix M with Y_e3nn = M Y_prodint: it is the identity."""
    x = points(200, seed=2)
    for l in range(5):
        ours = spherical_harmonics(l, x, normalization=normalization)
        theirs = o3.spherical_harmonics(l, x, normalize=True, normalization=normalization)
        m = torch.linalg.lstsq(ours, theirs).solution.T
        assert float((m - torch.eye(2 * l + 1, dtype=F64)).abs().max()) < 1e-10
        assert float((ours @ m.T - theirs).abs().max()) < 1e-10


def test_float32_agrees_with_float64() -> None:
    x = points(40)
    ref = spherical_harmonics([0, 1, 2, 3], x)
    out = spherical_harmonics([0, 1, 2, 3], x.float())
    assert out.dtype == torch.float32
    assert float((out.double() - ref).abs().max()) < 1e-5


def test_layout_and_bad_input() -> None:
    assert str(sh_irreps([0, 1, 2])) == "1x0e + 1x1o + 1x2e"
    assert spherical_harmonics([2, 0], points(3)).shape == (3, 6)
    with pytest.raises(ValueError, match=r"x: expected shape \[\.\.\., 3\].*received \(5, 2\)"):
        spherical_harmonics(1, torch.zeros(5, 2))
    with pytest.raises(TypeError, match=r"x: expected dtype float32, float64, received "
                                        r"torch\.int64"):
        spherical_harmonics(1, torch.zeros(5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="normalization"):
        spherical_harmonics(1, points(2), normalization="unit")
    with pytest.raises(ValueError, match="ls"):
        spherical_harmonics([-1], points(2))
