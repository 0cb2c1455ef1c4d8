"""HyperCube's verdict on small tables: two groups and a Latin square that is not a group.

Each table is factorized from every cell (seed 0) as ``T[a,b,c] = tr(A_a B_b C_c)/n``;
``H/3n²`` is 1 exactly for group isotopes with unitary factors, so the verdict must say yes
for ``S_3`` and ``Z_6`` and no for the order-5 Latin square (:mod:`prodint.hypercube`).
"""

from __future__ import annotations

from dataclasses import dataclass

from prodint.hypercube import analyze_table, make_table
from prodint.report import Section
from prodint.surveys.fields import check_fields

__all__ = ["TASKS", "VerdictRow", "section", "verdict_rows"]

#: ``(table, whether it is a group isotope)`` for every row.
TASKS: tuple[tuple[str, bool], ...] = (("s3", True), ("z6", True), ("latin5", False))


@dataclass(frozen=True)
class VerdictRow:
    """One table: its size, the expected and the returned verdict, and the evidence."""

    table: str
    n: int
    expected: bool
    verdict: bool
    h_ratio: float
    unitarity_error: float

    def __post_init__(self) -> None:
        """Raises ``TypeError``/``ValueError`` for a field of the wrong kind."""
        check_fields(self, texts=("table",), counts=("n",), flags=("expected", "verdict"),
                     numbers=("h_ratio", "unitarity_error"))


def verdict_rows() -> list[VerdictRow]:
    """The verdict on every table of :data:`TASKS`."""
    rows = []
    for task, expected in TASKS:
        d = analyze_table(make_table(task), train_fraction=1.0, seed=0).diagnostics
        rows.append(VerdictRow(task, d.n, expected, d.is_group_isotope, d.h_ratio,
                               d.unitarity_error))
    return rows


def section() -> Section:
    """The verdicts as a report table; it passes when every verdict is the expected one."""
    rows = verdict_rows()
    return Section(
        "HyperCube: is the table a group?",
        "Each table factorized as T[a,b,c] = tr(A_a B_b C_c)/n from every cell (seed 0): "
        "h_ratio = H/3n² is 1 exactly for group isotopes with unitary factors.",
        ["table", "n", "expected group", "verdict", "h_ratio", "unitarity error"],
        [[r.table, r.n, r.expected, r.verdict, round(r.h_ratio, 6), r.unitarity_error]
         for r in rows],
        passed=all(r.verdict == r.expected for r in rows),
    )
