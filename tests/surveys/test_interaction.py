"""The interaction surveys: orders, exactness of the compiled library, symmetry, design space."""

from prodint.surveys.interaction import (
    constrain_section,
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
    rows = design_space_rows(3)
    assert [r[0] for r in rows] == [1, 2, 3]
    assert 'conv' in rows[0][3] and 'glu' in rows[1][3] and 'softmax_attention' in rows[2][3]
    assert all(0 < causal < count for _, count, causal, _ in rows)


def test_design_space_section_counts_by_order() -> None:
    table = design_space_section()
    assert table.columns == ["order", "candidates", "causal", "classical layers"]
    assert table.passed
    assert [row[0] for row in table.rows] == [1, 2, 3, 4]
    assert all(row[1] > 0 for row in table.rows)


def test_constrain_section_holds_every_fact() -> None:
    table = constrain_section()
    assert table.passed and table.columns == ["fact", "residual", "parameters", "holds"]
    by_fact = {row[0]: row for row in table.rows}
    circular = next(r for f, r in by_fact.items() if f.startswith("dense on a 6x6 grid"))
    assert circular[1] < 1e-12 and circular[2] == 6 * 6 * 2 * 3  # an n×n kernel, C=2, O=3
    excluded = next(r for f, r in by_fact.items() if "excludes" in f)
    assert abs(excluded[1] - (11 / 12) ** 0.5) < 1e-9 and excluded[3]
