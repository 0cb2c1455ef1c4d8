"""The verdict on small groups, an isotope, and non-groups, over several seeds."""

import pytest

from prodint.hypercube.analyze import analyze_table
from prodint.hypercube.tables import make_table

SEEDS = (0, 1, 2)


@pytest.mark.parametrize(("task", "kwargs", "expected"), [
    ("s3", {}, True),
    ("z6", {}, True),
    ("zp-sub", {"p": 5}, True),
    ("latin5", {}, False),
    ("zp-sq-sum", {"p": 5}, False),
    ("sn-conj", {"n": 3}, False),
])
def test_verdict_over_seeds(task: str, kwargs: dict, expected: bool) -> None:
    table = make_table(task, **kwargs)
    for seed in SEEDS:
        d = analyze_table(table, train_fraction=1.0, seed=seed).diagnostics
        assert d.is_group_isotope is expected, (task, seed, d.summary())


def test_non_group_latin_square_stays_above_h_threshold() -> None:
    analysis = analyze_table(make_table("latin5"), train_fraction=1.0, seed=0)
    converged = [a for a in analysis.result.attempts if a.converged]
    assert converged and all(a.h_ratio > 1.05 for a in converged)
    assert analysis.diagnostics.evidence["latin_square"].passed
    assert not analysis.diagnostics.evidence["h_ratio"].passed
