"""The HyperCube survey: the verdict is right on two groups and a non-group Latin square."""

from prodint.surveys.hypercube import TASKS, section


def test_verdicts_are_the_expected_ones() -> None:
    table = section()
    assert table.passed
    assert [(row[0], row[2], row[3]) for row in table.rows] == [(t, e, e) for t, e in TASKS]
    by_table = {row[0]: row for row in table.rows}
    assert abs(by_table["s3"][4] - 1.0) < 1e-3 and by_table["latin5"][4] > 1.001
