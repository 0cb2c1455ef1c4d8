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


@pytest.mark.parametrize("task, kwargs, fraction", [("zn", {"n": 7}, 0.6),
                                                    ("zn", {"n": 11}, 0.5),
                                                    ("s3", {}, 0.6)])
def test_a_partly_observed_group_is_certified_by_refitting_its_completion(task, kwargs,
                                                                         fraction) -> None:
    from prodint.hypercube.analyze import completion
    from prodint.hypercube.diagnostics import HOM_TOL, diagnose

    table = make_table(task, **kwargs)
    analysis = analyze_table(table, train_fraction=fraction, seed=0)
    first = analysis.result.best
    # the fit on the observed cells alone: every cell right, H at the group value, but the
    # recovered representation only approximate (the case the refit is for)
    alone = diagnose(first.factors, table, analysis.mask, converged=first.converged,
                     train_loss=first.train_loss)
    assert [k for k, e in alone.evidence.items() if not e.passed] == ["homomorphism_error"]
    assert alone.homomorphism_error > HOM_TOL
    assert torch.equal(completion(first.factors), table)
    assert analysis.refit is not None and not bool(analysis.mask.all())
    assert analysis.verdict is True and analysis.diagnostics.homomorphism_error < 1e-3
    assert "refit on every cell" in analysis.reason
    assert analysis.result.held_out_perfect is not None   # the split's fit is kept


def test_a_fully_observed_group_and_a_non_group_are_not_refit() -> None:
    exact = analyze_table(make_table("zn", n=7), train_fraction=1.0, seed=0)
    assert exact.verdict is True and exact.refit is None
    latin = analyze_table(make_table("latin5"), train_fraction=0.6, seed=0)
    assert latin.verdict is False and latin.refit is None
