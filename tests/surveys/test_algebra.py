"""The catalogue survey: every defining identity verified, properties read correctly."""

from prodint.surveys.algebra import section, survey


def test_survey_verifies_every_identity() -> None:
    rows = survey()
    assert len(rows) >= 14
    by_name = {r.name: r for r in rows}
    assert all(r.verified for r in rows), [r for r in rows if not r.verified]
    assert not by_name["O"].associative and by_name["O"].alternative
    assert not by_name["H"].commutative and by_name["H"].associative
    assert by_name["M3"].kernel == "matmul"


def test_section_holds_every_row_and_passes() -> None:
    table = section()
    assert table.passed and len(table.rows) == len(survey())
    assert table.columns[0] == "algebra" and table.columns[-1] == "residual"
    assert all(row[-1] <= 1e-10 for row in table.rows)
