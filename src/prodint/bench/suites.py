"""Registry of benchmark suites: each yields cases and may annotate the finished records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prodint.bench import (
    algebra_suite,
    blocks_suite,
    dtn_suite,
    hypercube_suite,
    interaction_suite,
    spans_suite,
    symmetry_suite,
    train_suite,
    zoo_suite,
)
from prodint.bench.harness import Case, Record, measure


@dataclass(frozen=True)
class Suite:
    """A named set of benchmark cases."""

    cases: Callable[..., Iterator[Case]]
    annotate: Callable[[list[Record]], None] | None = None


SUITES: dict[str, Suite] = {
    "algebra": Suite(algebra_suite.cases, algebra_suite.annotate),
    "interaction": Suite(interaction_suite.cases, interaction_suite.annotate),
    "zoo": Suite(zoo_suite.cases),
    "dtn": Suite(dtn_suite.cases, dtn_suite.annotate),
    "blocks": Suite(blocks_suite.cases, blocks_suite.annotate),
    "symmetry": Suite(symmetry_suite.cases),
    "hypercube": Suite(hypercube_suite.cases, hypercube_suite.annotate),
    "spans": Suite(spans_suite.cases, spans_suite.annotate),
    "train": Suite(train_suite.cases, train_suite.annotate),
}


def run_suite(name: str, *, quick: bool = False, device: str = "cpu", memory: bool = True,
              progress: Callable[[str], None] | None = None) -> list[Record]:
    """Run suite ``name`` and return its records (ratios and annotations filled in)."""
    if name not in SUITES:
        raise ValueError(f"suite: expected one of {sorted(SUITES)}, received {name!r}")
    suite = SUITES[name]
    records = measure(name, suite.cases(quick=quick, device=device), memory=memory,
                      progress=progress)
    if suite.annotate is not None:
        suite.annotate(records)
    return records
