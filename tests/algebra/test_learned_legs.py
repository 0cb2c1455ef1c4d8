"""The sizes of the equivariance solves behind LearnedAlgebra, refused before they start."""

import pytest
import torch

from prodint.algebra import LearnedAlgebra
from prodint.groups import cyclic, direct_sum, regular, sign, so3_vector


def test_a_huge_svd_solve_is_refused_with_the_estimate() -> None:
    # A non-permutation symmetry on 32 dims: 32³ = 32,768 unknowns, a 32 GiB constraint SVD.
    rep = direct_sum(*[sign(cyclic(2))] * 32)
    with pytest.raises(ValueError, match=r"symmetry: expected a size for which SVD solve .* "
                                         r"32,768 entries .* fits in 1.0 GiB.*about 32.0 GiB"):
        LearnedAlgebra(32, symmetry=rep, mode="constrained")
    # Fewer legs, a smaller solve: 32² unknowns.
    alg = LearnedAlgebra(32, symmetry=rep, mode="constrained", legs=("a", "c"))
    assert alg.is_equivariant()


def test_orbit_solves_scale_to_the_same_size() -> None:
    alg = LearnedAlgebra(32, symmetry=regular(cyclic(32)), mode="constrained")
    assert alg.theta.numel() == 32 * 32  # one coefficient per orbit (|G|² / |G| · |G|)


def test_huge_dimensions_and_initial_scales_are_refused() -> None:
    with pytest.raises(ValueError, match=r"dim: expected a size for which structure constants "
                                         r"\[n, n, n\] .*would need about 64.0 TiB"):
        LearnedAlgebra(2**14)
    with pytest.raises(TypeError, match=r"dim: expected an int, received 3.0"):
        LearnedAlgebra(3.0)  # type: ignore[arg-type]
    for std in (float("nan"), 0.0, 1e300):
        with pytest.raises(ValueError, match="init_std: expected a finite number > 0 and "
                                             "<= 1000"):
            LearnedAlgebra(3, init_std=std)


def test_equivariance_tolerance_and_operands_are_checked() -> None:
    alg = LearnedAlgebra(3, symmetry=so3_vector(), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="atol: expected a finite number >= 0, received nan"):
        alg.is_equivariant(atol=float("nan"))
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="y: expected leading dimensions that broadcast"):
        alg.mul(x, x[:0])
    with pytest.raises(TypeError, match=r"x: expected dtype torch.float32 .*torch.int64"):
        alg.mul(torch.ones(2, 3, dtype=torch.long), x)
