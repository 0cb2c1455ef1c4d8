"""analyze_algebra's decision: a table, a group basis, a proof, or "not applicable"."""

import itertools
import json

import pytest
import torch

from prodint.algebra import (
    Algebra,
    LearnedAlgebra,
    complex_numbers,
    from_structure_constants,
    group_algebra,
)
from prodint.groups import cyclic, dihedral, symmetric
from prodint.hypercube.analyze import analyze_algebra, analyze_table
from prodint.hypercube.model import one_hot_target
from prodint.hypercube.tables import make_table


def _in_basis(algebra: Algebra, basis: torch.Tensor) -> Algebra:
    """The algebra in the basis ``f_k = Σ_a basis[a, k] e_a`` (products by ``algebra.mul``)."""
    f = basis.T
    products = algebra.to_dtype(torch.float64).mul(f[:, None, :], f[None, :, :])
    coordinates = torch.linalg.solve(basis, products.reshape(-1, f.shape[0]).T)
    return from_structure_constants(coordinates.T.reshape(*products.shape))


def _random_basis(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _isomorphic(t: torch.Tensor, u: torch.Tensor) -> bool:
    """Some bijection ``π`` has ``π(t[a, b]) = u[π(a), π(b)]`` (brute force, small ``n``)."""
    n = int(t.shape[0])
    for perm in itertools.permutations(range(n)):
        p = torch.tensor(perm)
        if bool((p[t] == u[p[:, None], p[None, :]]).all()):
            return True
    return False


def test_group_algebra_is_a_group() -> None:
    analysis = analyze_algebra(group_algebra(dihedral(3)), seed=0)
    assert analysis.verdict is True and analysis.reduction is not None
    assert analysis.reduction.method == "table" and analysis.table is not None
    assert analysis.table.equal(dihedral(3).table)
    assert analysis.diagnostics is not None and analysis.diagnostics.homomorphism_error < 1e-2


def test_rescaled_permuted_group_table_is_reduced_to_the_group() -> None:
    scales = torch.tensor([1.5, -2.0, 0.25, 3.0, -1.0, 0.8], dtype=torch.float64)
    perm = torch.tensor([2, 5, 0, 4, 1, 3])
    algebra = _in_basis(group_algebra(symmetric(3)), torch.diag(scales)[:, perm])
    analysis = analyze_algebra(algebra)
    assert analysis.verdict is True and analysis.reduction is not None
    assert analysis.reduction.method == "rescaled" and analysis.table is not None
    assert _isomorphic(analysis.table, symmetric(3).table)
    assert not _isomorphic(analysis.table, cyclic(6).table)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cyclic_group_algebra_in_a_random_basis_is_a_group(dtype: torch.dtype) -> None:
    algebra = _in_basis(group_algebra(cyclic(3)), _random_basis(3, 0)).to_dtype(dtype)
    analysis = analyze_algebra(algebra)
    assert analysis.verdict is True and analysis.reduction is not None
    assert analysis.reduction.method == "characters" and analysis.table is not None
    assert _isomorphic(analysis.table, cyclic(3).table)
    assert "characters" in analysis.reason


def test_symmetric_group_algebra_in_a_random_basis_is_not_applicable() -> None:
    analysis = analyze_algebra(_in_basis(group_algebra(symmetric(3)), _random_basis(6, 1)))
    assert analysis.verdict is None and "not commutative" in analysis.reason
    assert analysis.table is None and analysis.diagnostics is None
    summary = analysis.summary()
    assert json.loads(json.dumps(summary))["verdict"] is None
    assert summary["reason"] == analysis.reason


def test_semilattice_basis_of_a_group_algebra_is_not_a_false() -> None:
    # R × R in the basis u = (1, 0), v = (1, 1): u² = u, v² = v, uv = vu = u, not a group,
    # while (1, 1), (1, -1) is a basis of Z_2.
    gamma = torch.zeros(2, 2, 2, dtype=torch.float64)
    gamma[0, 0, 0] = gamma[0, 1, 0] = gamma[1, 0, 0] = gamma[1, 1, 1] = 1.0
    analysis = analyze_algebra(from_structure_constants(gamma))
    assert analysis.verdict is True and analysis.table is not None
    assert analysis.table.equal(cyclic(2).table)


def test_non_group_latin_square_algebra_is_not_a_group() -> None:
    algebra = from_structure_constants(one_hot_target(make_table("latin5"), torch.float64))
    analysis = analyze_algebra(algebra)
    assert analysis.verdict is False and analysis.table is not None
    assert analysis.table.equal(make_table("latin5"))
    assert "not associative" in analysis.reason


def test_group_isotope_table_algebra_keeps_the_table_verdict() -> None:
    table = make_table("zp-sub", p=5)
    algebra = from_structure_constants(one_hot_target(table, torch.float64))
    assert analyze_algebra(algebra).verdict is analyze_table(table).verdict is True


def test_complex_numbers_are_proven_no_group_algebra() -> None:
    analysis = analyze_algebra(complex_numbers())
    assert analysis.verdict is False and "R^0 x C^1" in analysis.reason
    assert analysis.table is None


def test_learned_algebra_at_initialization_is_not_applicable() -> None:
    learned = LearnedAlgebra(4, generator=torch.Generator().manual_seed(0))
    analysis = analyze_algebra(learned)
    assert analysis.verdict is None and "not associative" in analysis.reason
    assert analysis.reduction is None and analysis.result is None


def test_learned_algebra_holding_a_group_algebra_is_a_group() -> None:
    learned = LearnedAlgebra(3)
    gamma = _in_basis(group_algebra(cyclic(3)), _random_basis(3, 4)).structure_constants
    with torch.no_grad():
        learned.gamma.copy_(gamma)  # type: ignore[union-attr]
    analysis = analyze_algebra(learned)
    assert analysis.verdict is True and analysis.table is not None
    assert _isomorphic(analysis.table, cyclic(3).table)


def test_analyze_table_has_the_verdict_of_its_diagnostics() -> None:
    analysis = analyze_table(make_table("latin5"))
    assert analysis.diagnostics is not None
    assert analysis.verdict is analysis.diagnostics.is_group_isotope is False
    assert "failing: h_ratio" in analysis.reason and analysis.reduction is None


def test_analyze_algebra_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match=r"algebra: expected a prodint\.Algebra or "
                                        r"prodint\.algebra\.LearnedAlgebra, received list"):
        analyze_algebra([[0]])  # type: ignore[arg-type]


def test_analyze_algebra_rejects_non_finite_constants_and_bad_options() -> None:
    learned = LearnedAlgebra(2)
    with torch.no_grad():
        learned.gamma[0, 0, 0] = float("nan")  # type: ignore[index]
    with pytest.raises(ValueError, match=r"algebra: expected finite structure constants"):
        analyze_algebra(learned)
    with pytest.raises(ValueError, match=r"train_fraction: expected"):
        analyze_algebra(group_algebra(cyclic(3)), train_fraction=0.0)
