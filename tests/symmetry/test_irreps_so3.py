"""Irreps layouts, SO(3) generators, Wigner matrices and rotations."""

import math

import pytest
import torch
from e3nn import o3

from prodint.groups import so3_vector
from prodint.symmetry.irreps import Irrep, Irreps
from prodint.symmetry.so3 import (
    check_orthogonal,
    generators,
    irrep_representation,
    random_rotation,
    rotation_matrix,
    rotation_vector,
    wigner_D,
    wigner_D_from_vector,
)

F64 = torch.float64


def rotations(n: int, seed: int = 0) -> torch.Tensor:
    return random_rotation(n, generator=torch.Generator().manual_seed(seed))


def test_irreps_parse_dims_and_slices() -> None:
    irreps = Irreps("16x0e + 8x1o + 2e")
    assert irreps.blocks == ((16, Irrep(0, 1)), (8, Irrep(1, -1)), (1, Irrep(2, 1)))
    assert irreps.dim == 16 + 24 + 5
    assert irreps.num_irreps == 25
    assert irreps.lmax == 2
    assert irreps.slices() == [slice(0, 16), slice(16, 40), slice(40, 45)]
    assert str(irreps) == "16x0e + 8x1o + 1x2e"
    assert Irreps(str(irreps)) == irreps
    assert Irreps("").dim == 0
    assert list(Irrep("1o") * Irrep("1o")) == [Irrep("0e"), Irrep("1e"), Irrep("2e")]


@pytest.mark.parametrize("spec", ["16x0q", "x1o", "3x", "1o +", "-1x1o"])
def test_irreps_reject_malformed_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="spec"):
        Irreps(spec)


def test_irreps_check_names_argument_expected_and_received() -> None:
    irreps = Irreps("2x0e + 1x1o")
    with pytest.raises(ValueError, match=r"feats: expected shape \[\.\.\., 5\].*received \(3, 4\)"):
        irreps.check(torch.zeros(3, 4), "feats")
    with pytest.raises(TypeError, match="feats: expected a floating tensor"):
        irreps.check(torch.zeros(3, 5, dtype=torch.long), "feats")


def test_generators_satisfy_so3_brackets_and_l1_is_the_vector_representation() -> None:
    assert torch.equal(generators(1), so3_vector().generators) or \
        float((generators(1) - so3_vector().generators).abs().max()) < 1e-15
    for l in range(5):
        x = generators(l)
        assert x.shape == (3, 2 * l + 1, 2 * l + 1)
        assert float((x + x.transpose(1, 2)).abs().max()) < 1e-14
        for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
            comm = x[i] @ x[j] - x[j] @ x[i]
            assert float((comm - x[k]).abs().max()) < 1e-12
        # Eigenvalues of X_y (rotation about the polar axis y) are i·m, m = -l..l.
        eig = torch.linalg.eigvals(x[1]).imag.sort().values
        assert torch.allclose(eig, torch.arange(-l, l + 1, dtype=F64), atol=1e-10)
    assert irrep_representation(2) is irrep_representation(2)


def test_wigner_D_is_an_orthogonal_homomorphism() -> None:
    r = rotations(6)
    for l in range(5):
        d = wigner_D(l, r)
        eye = torch.eye(2 * l + 1, dtype=F64)
        assert float((d @ d.transpose(1, 2) - eye).abs().max()) < 1e-12
        assert float((wigner_D(l, r[:3] @ r[3:]) - d[:3] @ d[3:]).abs().max()) < 1e-12
        assert torch.allclose(torch.linalg.det(d), torch.ones(6, dtype=F64), atol=1e-12)
    assert float((wigner_D(1, r) - r).abs().max()) < 1e-13
    assert torch.equal(wigner_D(0, r), torch.ones(6, 1, 1, dtype=F64))


def test_wigner_D_matches_e3nn() -> None:
    """Same basis as e3nn; its D_from_matrix goes through float32 constants (error ~1e-7)."""
    r = rotations(4, seed=1)
    for l in range(4):
        ours = wigner_D(l, r)
        theirs = o3.Irrep(l, 1).D_from_matrix(r)
        assert float((ours - theirs).abs().max()) < 1e-5


def test_rotation_vector_roundtrip_at_every_angle() -> None:
    axis = torch.tensor([0.3, -0.5, 0.8], dtype=F64)
    axis = axis / axis.norm()
    for angle in (0.0, 1e-9, 0.5, 2.0, math.pi - 1e-7, math.pi):
        r = rotation_matrix(axis * angle)
        assert float((rotation_matrix(rotation_vector(r)) - r).abs().max()) < 1e-12
    r = rotations(50, seed=2)
    assert float((rotation_matrix(rotation_vector(r)) - r).abs().max()) < 1e-12
    assert float((wigner_D_from_vector(1, rotation_vector(r)) - r).abs().max()) < 1e-12


def test_random_rotations_are_rotations() -> None:
    r = rotations(100, seed=3)
    assert torch.allclose(torch.linalg.det(r), torch.ones(100, dtype=F64), atol=1e-12)
    assert random_rotation(dtype=torch.float32).dtype == torch.float32
    # Haar: E[R] = 0.
    assert float(rotations(4000, seed=4).mean(0).abs().max()) < 0.05


def test_non_orthogonal_rotation_is_rejected_by_name() -> None:
    bad = torch.eye(3, dtype=F64)
    bad[0, 1] = 0.1
    with pytest.raises(ValueError, match=r"rotation: expected an orthogonal matrix.*received"):
        wigner_D(1, bad)
    with pytest.raises(ValueError, match=r"rotation: expected shape \[\.\.\., 3, 3\]"):
        wigner_D(1, torch.eye(2, dtype=F64))
    with pytest.raises(ValueError, match="det = −1"):
        wigner_D(2, -torch.eye(3, dtype=F64))
    with pytest.raises(ValueError, match="rotation: expected an orthogonal"):
        Irreps("1x1o").D(bad)
    with pytest.raises(TypeError, match=r"q: expected a torch\.Tensor"):
        check_orthogonal([[1, 0, 0]], "q")


def test_layout_D_carries_parity_under_reflections() -> None:
    irreps = Irreps("2x0e + 1x0o + 1x1o + 1x1e + 1x2e")
    r = rotations(1, seed=5)[0]
    inv = -torch.eye(3, dtype=F64)
    d = irreps.D(inv)
    assert torch.equal(d.diagonal(), torch.tensor([1, 1, -1, -1, -1, -1, 1, 1, 1, 1, 1, 1, 1, 1.],
                                                  dtype=F64))
    assert float((irreps.D(-r) - irreps.D(inv) @ irreps.D(r)).abs().max()) < 1e-12
    gens = irreps.representation().generators
    assert gens.shape == (3, irreps.dim, irreps.dim)
    assert float((torch.linalg.matrix_exp(torch.einsum("k,kab->ab", rotation_vector(r), gens))
                  - irreps.D(r)).abs().max()) < 1e-12


def test_malformed_and_huge_layouts_are_refused() -> None:
    from prodint.symmetry.irreps import MAX_DIM, as_irreps

    for spec in ("1x", "-1x0e", "2x", "x0e", "1x0q"):
        with pytest.raises(ValueError, match=r"spec: expected blocks like"):
            Irreps(spec)
    with pytest.raises(ValueError, match=rf"spec: expected at most {MAX_DIM:,} coordinates"):
        Irreps("99999999x0e")
    with pytest.raises(ValueError, match=r"l: expected an int in \[0, 100\]"):
        Irrep(101, 1)
    with pytest.raises(ValueError, match=r"p: expected one of 1, -1, received 1.0"):
        Irrep(1, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"irreps_in: expected blocks like"):
        as_irreps("2x", "irreps_in")
    with pytest.raises(ValueError, match=r"irreps_in: expected a layout with at least one"):
        as_irreps("", "irreps_in", empty=False)


def test_rotations_must_be_orthogonal_and_solver_sizes_are_estimated() -> None:
    from prodint.symmetry import clebsch_gordan, wigner_D

    with pytest.raises(ValueError, match=r"rotation: expected an orthogonal matrix"):
        wigner_D(1, 2 * torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"rotation: expected a rotation \(det = \+1\)"):
        wigner_D(1, -torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"rotation: expected one \[3, 3\] matrix"):
        Irreps("1x1o").D(torch.eye(3, dtype=torch.float64).expand(2, 3, 3))
    with pytest.raises(ValueError, match=r"ir1, ir2, ir3: expected a size for which equivariance "
                                         r"constraint fits"):
        clebsch_gordan(Irrep(100, 1), Irrep(100, 1), Irrep(100, 1))
