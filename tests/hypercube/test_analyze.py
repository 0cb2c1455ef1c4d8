"""analyze_algebra on a group algebra and on an algebra that is not an operation table."""

import pytest

from prodint.algebra import complex_numbers, group_algebra
from prodint.groups import dihedral
from prodint.hypercube.analyze import algebra_table, analyze_algebra
from prodint.hypercube.train import Recipe


def test_group_algebra_is_a_group() -> None:
    algebra = group_algebra(dihedral(3))
    table = algebra_table(algebra.structure_constants)
    assert table is not None and table.equal(dihedral(3).table)
    analysis = analyze_algebra(algebra, seed=0)
    assert analysis.diagnostics.is_group_isotope
    assert analysis.diagnostics.homomorphism_error < 1e-2


def test_non_table_algebra_is_fitted_but_not_a_group() -> None:
    algebra = complex_numbers()  # i·i = -1: not a 0/1 table
    assert algebra_table(algebra.structure_constants) is None
    analysis = analyze_algebra(algebra, recipe=Recipe(max_steps=200, restarts=0))
    d = analysis.diagnostics
    assert not d.is_group_isotope and not d.evidence["operation_table"].passed


def test_analyze_algebra_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match=r"algebra: expected a prodint\.Algebra, received list"):
        analyze_algebra([[0]])
