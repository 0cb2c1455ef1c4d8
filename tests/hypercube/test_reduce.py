"""Multiplicative bases of algebras: rescaled tables, group bases from characters, proofs.

Every basis found is checked against the algebra's own product: ``f_i f_j`` computed by
:meth:`prodint.Algebra.mul` must be ``f_{table[i, j]}``; the groups recovered are compared
with the original through their element orders (which determine a finite abelian group).
"""

from collections import Counter

import pytest
import torch

from prodint.algebra import (
    Algebra,
    complex_numbers,
    dual_numbers,
    from_structure_constants,
    group_algebra,
    hadamard,
    octonions,
    quaternions,
)
from prodint.groups import Group, cyclic, direct_product, symmetric
from prodint.hypercube.reduce import (
    CHARACTERS,
    RESCALED,
    TABLE,
    Reduction,
    group_basis,
    rescaled_table,
    tolerance,
)
from prodint.hypercube.tables import is_group_table

TOL = tolerance(torch.float64)


def _in_basis(algebra: Algebra, basis: torch.Tensor) -> Algebra:
    """The same algebra in the basis ``f_k = Σ_a basis[a, k] e_a``: ``f_i f_j`` by the
    algebra's product, written in the new coordinates."""
    f = basis.T.to(torch.float64)  # row k: f_k
    alg = algebra.to_dtype(torch.float64)
    products = alg.mul(f[:, None, :], f[None, :, :])  # [i, j, a]
    coordinates = torch.linalg.solve(basis.to(torch.float64), products.reshape(-1, f.shape[0]).T)
    return from_structure_constants(coordinates.T.reshape(*products.shape))


def _random_basis(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _assert_multiplicative(algebra: Algebra, reduction: Reduction) -> None:
    """``f_i f_j = f_{table[i, j]}`` for every pair, by the algebra's own product."""
    f = reduction.basis.T
    alg = algebra.to_dtype(torch.float64)
    products = alg.mul(f[:, None, :], f[None, :, :])
    scale = float(f.abs().max()) ** 2 * float(alg.values.abs().max())
    assert torch.allclose(products, f[reduction.table], rtol=0, atol=1e-9 * max(1.0, scale))


def _order_counts(table: torch.Tensor) -> Counter[int]:
    """How many elements of each order the group of ``table`` has (identity found first)."""
    n = int(table.shape[0])
    ar = torch.arange(n)
    e = int(((table == ar).all(dim=1)).nonzero()[0])
    counts: Counter[int] = Counter()
    for g in range(n):
        power, k = g, 1
        while power != e:
            power, k = int(table[power, g]), k + 1
        counts[k] += 1
    return counts


def test_zero_one_table_needs_no_change() -> None:
    algebra = group_algebra(cyclic(4))
    r = rescaled_table(algebra.structure_constants.double(), TOL)
    assert r is not None and r.method == TABLE
    assert r.basis.equal(torch.eye(4, dtype=torch.float64))
    assert r.table.equal(cyclic(4).table)


def test_permuted_and_rescaled_group_table_is_reduced() -> None:
    s3 = group_algebra(symmetric(3)).to_dtype(torch.float64)
    scales = torch.tensor([2.0, -1.0, 0.5, -3.0, 1.5, -0.7], dtype=torch.float64)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    twisted = _in_basis(s3, torch.diag(scales)[:, perm])
    assert not bool(((twisted.structure_constants == 0) | (twisted.structure_constants == 1))
                    .all())
    r = rescaled_table(twisted.structure_constants, TOL)
    assert r is not None and r.method == RESCALED and r.residual < 1e-12
    assert torch.count_nonzero(r.basis - torch.diag(torch.diagonal(r.basis))) == 0
    _assert_multiplicative(twisted, r)
    assert is_group_table(r.table)


@pytest.mark.parametrize("algebra", [complex_numbers(), quaternions(), octonions()],
                         ids=["C", "H", "O"])
def test_twisted_tables_without_consistent_scalings_are_not_tables(algebra: Algebra) -> None:
    gamma = algebra.structure_constants.double()
    assert bool(((gamma != 0).sum(-1) == 1).all())  # one nonzero per (a, b), some −1
    assert rescaled_table(gamma, TOL) is None


def test_random_basis_is_no_rescaled_table() -> None:
    algebra = _in_basis(group_algebra(cyclic(3)), _random_basis(3, 0))
    assert rescaled_table(algebra.structure_constants, TOL) is None


@pytest.mark.parametrize(("group", "expected"), [
    (cyclic(3), cyclic(3)),
    (cyclic(4), cyclic(4)),
    (direct_product(cyclic(2), cyclic(2)), direct_product(cyclic(2), cyclic(2))),
    (cyclic(6), cyclic(6)),
    (direct_product(cyclic(2), cyclic(4)), direct_product(cyclic(2), cyclic(4))),
    (direct_product(cyclic(3), cyclic(3)), cyclic(9)),  # R[Z_3 × Z_3] ≅ R[Z_9]
], ids=["C3", "C4", "C2xC2", "C6", "C2xC4", "C3xC3"])
@pytest.mark.parametrize("seed", [0, 1])
def test_group_basis_of_a_commutative_group_algebra_in_a_random_basis(
        group: Group, expected: Group, seed: int) -> None:
    algebra = _in_basis(group_algebra(group), _random_basis(group.order, seed))
    finding = group_basis(algebra.structure_constants, TOL)
    r = finding.reduction
    assert r is not None and r.method == CHARACTERS and r.residual < 1e-8
    _assert_multiplicative(algebra, r)
    assert is_group_table(r.table)
    assert _order_counts(r.table) == _order_counts(expected.table)


def test_group_basis_in_float32() -> None:
    algebra = _in_basis(group_algebra(cyclic(5)), _random_basis(5, 2)).to_dtype(torch.float32)
    finding = group_basis(algebra.structure_constants.double(), tolerance(torch.float32))
    assert finding.reduction is not None
    assert _order_counts(finding.reduction.table) == _order_counts(cyclic(5).table)


def _left_zero(n: int) -> Algebra:
    """``e_a e_b = e_a``: associative, every element a right identity, no two-sided unit."""
    gamma = torch.zeros(n, n, n, dtype=torch.float64)
    a = torch.arange(n)
    gamma[a[:, None], a[None, :], a[:, None]] = 1.0
    return from_structure_constants(gamma)


@pytest.mark.parametrize(("algebra", "words"), [
    (complex_numbers(), "R^0 x C^1"),
    (hadamard(3), "R^3 x C^0"),
    (dual_numbers(), "not semisimple"),
    (_left_zero(3), "no two-sided unit"),
    (quaternions(), "every group of order 4 is abelian"),
    (octonions(), "not associative"),
], ids=["C", "R^3", "dual", "left-zero", "H", "O"])
def test_algebras_that_are_no_group_algebra_are_proven_so(algebra: Algebra, words: str) -> None:
    finding = group_basis(algebra.structure_constants.double(), TOL)
    assert finding.reduction is None and finding.proven and words in finding.reason
    assert finding.associative == (words != "not associative")


def test_hadamard_four_is_the_klein_group_algebra() -> None:
    algebra = hadamard(4)  # R^4 ≅ R[Z_2 × Z_2]
    r = group_basis(algebra.structure_constants.double(), TOL).reduction
    assert r is not None
    _assert_multiplicative(algebra, r)
    assert _order_counts(r.table) == Counter({1: 1, 2: 3})


def test_non_commutative_group_algebra_in_a_random_basis_is_undecided() -> None:
    algebra = _in_basis(group_algebra(symmetric(3)), _random_basis(6, 0))
    finding = group_basis(algebra.structure_constants, TOL)
    assert finding.reduction is None and not finding.proven
    assert "not commutative" in finding.reason
