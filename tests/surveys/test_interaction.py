"""The interaction surveys: orders, exactness of the compiled library, symmetry, design space."""

from prodint.surveys.interaction import (
    design_space_rows,
    design_space_section,
    library_rows,
    symmetry_rows,
)


def test_interaction_surveys() -> None:
    rows = {r.name: r for r in library_rows()}
    assert rows["tensor attention"].order == 5 and rows["GLU"].order == 2
    assert all(r.max_error < 1e-10 for r in rows.values())
    sym = symmetry_rows()
    assert [r.group for r in sym] == ["C4", "D4", "S3"]
    assert all(r.equivariance_error < 1e-10 < r.free_penalty for r in sym)
    assert [o for o, _ in design_space_rows(3)] == [1, 2, 3]


def test_design_space_section_counts_by_order() -> None:
    table = design_space_section()
    assert table.columns == ["order", "interactions"] and table.passed
    assert [row[0] for row in table.rows] == [1, 2, 3, 4]
    assert all(count > 0 for _, count in table.rows)
