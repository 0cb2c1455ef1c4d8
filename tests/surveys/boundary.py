"""Boundary entries of prodint.surveys: every survey, its rows and its report table.

The surveys without arguments run once (each well under two seconds: they are the demo's
tables); those with sizes run at tiny sizes (a 5-step sequence, a one-layer zoo pair, no
timing block), so that every hostile call takes milliseconds.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from prodint.algebra import quaternions
from prodint.bench.zoo_pairs import Built, Pair
from prodint.surveys import algebra, hypercube, interaction, ops, zoo
from prodint.testing.contract import Entry
from prodint.zoo import from_torch

_TIMING_SIZES = frozenset({"length", "heads", "dim"})


def _tiny_pair() -> Pair:
    def make(dtype: torch.dtype) -> Built:
        torch.manual_seed(0)
        counterpart = nn.Linear(3, 2).to(dtype)
        return Built(from_torch(counterpart), counterpart, (torch.randn(4, 3, dtype=dtype),))

    return Pair("dense 3->2", "nn.Linear", make)


def _survey_algebra_arguments() -> dict[str, Any]:
    _, identity, check = algebra.catalogue_entries()[3]
    return dict(alg=quaternions(), identity=identity, check=check)


def _passed(section: Any) -> bool:
    return section.passed


def _row(kind: type, **fields: Any) -> Entry:
    name = f"{kind.__module__}.{kind.__name__}"
    texts = frozenset(k for k, v in fields.items() if isinstance(v, str))
    return Entry((name,), lambda a: kind(**a), lambda: dict(fields), free_text=texts)


ENTRIES = [
    Entry(("prodint.surveys.algebra.section", "prodint.surveys.algebra.survey",
           "prodint.surveys.algebra.catalogue_entries"),
          lambda a: _passed(algebra.section()), dict),
    Entry(("prodint.surveys.algebra.survey_algebra",),
          lambda a: algebra.survey_algebra(**a).residual, _survey_algebra_arguments,
          free_text=frozenset({"identity"})),
    _row(algebra.SurveyRow, name="H", dim=4, nnz=16, kernel="dense", unital=True,
         commutative=False, associative=True, alternative=True, identity="i² = -1",
         residual=0.0),
    Entry(("prodint.surveys.hypercube.section", "prodint.surveys.hypercube.verdict_rows"),
          lambda a: _passed(hypercube.section()), dict),
    _row(hypercube.VerdictRow, table="s3", n=6, expected=True, verdict=True, h_ratio=1.0,
         unitarity_error=1e-9),
    Entry(("prodint.surveys.interaction.library_section",
           "prodint.surveys.interaction.library_rows"),
          lambda a: _passed(interaction.library_section()), dict),
    Entry(("prodint.surveys.interaction.symmetry_section",
           "prodint.surveys.interaction.symmetry_rows"),
          lambda a: _passed(interaction.symmetry_section()), dict),
    Entry(("prodint.surveys.interaction.constrain_section",),
          lambda a: _passed(interaction.constrain_section()), dict),
    Entry(("prodint.surveys.interaction.design_space_section",),
          lambda a: _passed(interaction.design_space_section()), dict),
    Entry(("prodint.surveys.interaction.design_space_rows",),
          lambda a: interaction.design_space_rows(**a), lambda: dict(max_order=2)),
    _row(interaction.LibraryRow, name="dense", order=1, parameters=64, max_error=0.0,
         expression="Σ_c X W"),
    _row(interaction.SymmetryRow, group="C4", representation="regular", basis_size=16,
         equivariance_error=1e-15, free_penalty=2.5),
    Entry(("prodint.surveys.ops.forms_rows",),
          lambda a: [(r.chunk_error, r.recurrent_error) for r in ops.forms_rows(**a)],
          lambda: dict(length=5, chunk_size=2)),
    # Every size the memory check accepts is a valid timing whose time grows with it (a
    # random one may take minutes): the timing sizes' refusals are tested in test_ops.py.
    Entry(("prodint.surveys.ops.speed_row",), lambda a: ops.speed_row(**a).length,
          lambda: dict(length=8, heads=1, dim=4), fixed=_TIMING_SIZES),
    Entry(("prodint.surveys.ops.section",), lambda a: _passed(ops.section(**a)),
          lambda: dict(length=5, chunk_size=2, speed_length=8, heads=1, dim=4),
          fixed=_TIMING_SIZES | {"speed_length"}),
    _row(ops.FormsRow, operator="tensor attention", variant="plain", length=75,
         chunk_error=1e-16, recurrent_error=1e-16),
    _row(ops.SpeedRow, length=4096, chunk_ms=10.0, sdpa_ms=20.0, ratio=0.5),
    Entry(("prodint.surveys.zoo.survey_family",),
          lambda a: zoo.survey_family(**a).errors["forward"],
          lambda: dict(pair=_tiny_pair(), min_seconds=0.0)),
    Entry(("prodint.surveys.zoo.survey",),
          lambda a: [r.max_error for r in zoo.survey(**a)],
          lambda: dict(pairs=(_tiny_pair(),), min_seconds=0.0, progress=lambda name: None)),
    Entry(("prodint.surveys.zoo.section",), lambda a: _passed(zoo.section(**a)),
          lambda: dict(pairs=(_tiny_pair(),), min_seconds=0.0, progress=lambda name: None)),
    Entry(("prodint.surveys.zoo.FamilyRow",), lambda a: zoo.FamilyRow(**a).max_error,
          lambda: dict(name="dense", counterpart="nn.Linear", order=1,
                       errors={"forward": 0.0, "general": math.nan, "reference": 0.0},
                       failures=("general: NotImplementedError",), time_ratio=1.5,
                       expression="Σ_c X W"),
          free_text=frozenset({"name", "counterpart", "expression"})),
]

EXEMPT = {
    "prodint.surveys.hypercube.TASKS": "a constant (the tables of the verdict survey)",
    "prodint.surveys.zoo.EXECUTIONS": "a constant (the executions the zoo survey checks)",
}
