"""The zoo table: every family is exact against its reference and reports its order."""

from prodint.zoo.survey import FAMILIES, survey


def test_every_family_exact_with_its_order() -> None:
    rows = {r.name: r for r in survey(min_seconds=0.0)}
    assert set(rows) == {f.name for f in FAMILIES}
    assert all(r.max_error < 1e-10 for r in rows.values()), rows
    assert rows["dense"].order == 1 and rows["GLU"].order == 2
    assert rows["multi-head attention"].order == 3
    assert all(r.time_ratio > 0 for r in rows.values())
