"""Boundary entries of prodint.hypercube: every public callable under hostile arguments.

Sizes are tiny (``n = 3``, a few steps, no restart) so that every call takes milliseconds;
the runs return the tensors a result holds, so that the contract sees their values.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from prodint.algebra import LearnedAlgebra, group_algebra
from prodint.groups import cyclic
from prodint.hypercube import (
    Factors,
    Recipe,
    analyze_algebra,
    analyze_table,
    check_table,
    diagnose,
    load_table,
    make_table,
    regular_representation,
    split_cells,
    train,
)
from prodint.hypercube.analyze import Analysis
from prodint.hypercube.diagnostics import Diagnostics
from prodint.hypercube.model import one_hot_target
from prodint.hypercube.train import TrainResult
from prodint.testing.contract import Entry

_FOLDER = tempfile.TemporaryDirectory(prefix="prodint-hypercube-boundary-")
_TABLE_FILE = Path(_FOLDER.name) / "z3.json"
_TABLE_FILE.write_text(json.dumps(cyclic(3).table.tolist()), encoding="utf-8")

#: The recipe of every training call here: a few float64 steps, no restart.
_RECIPE = Recipe(max_steps=4, restarts=0, dtype=torch.float64)


def _table() -> torch.Tensor:
    return cyclic(3).table.clone()


def _factors() -> Factors:
    g = torch.Generator().manual_seed(0)
    return Factors(*(torch.randn(3, 3, 3, generator=g, dtype=torch.float64) for _ in range(3)))


def _progress(attempt: int, step: int, info: dict[str, float]) -> None:
    del attempt, step, info


def _monitor(step: int, factors: Factors) -> bool:
    del factors
    return step >= 3


def _diagnostics_tensors(d: Diagnostics) -> tuple[torch.Tensor, ...]:
    scalars = [d.train_accuracy, d.h_ratio, d.unitarity_error]
    scalars += [v for v in (d.test_accuracy, d.homomorphism_error) if v is not None]
    rep = () if d.representation is None else (d.representation,)
    return (torch.tensor(scalars, dtype=torch.float64), *d.spectra.values(), *rep)


def _result_tensors(r: TrainResult) -> tuple[torch.Tensor, ...]:
    losses = torch.tensor([[a.train_loss, a.h_ratio] for a in r.attempts], dtype=torch.float64)
    return (losses, *r.best.factors.tensors())


def _analysis_tensors(a: Analysis) -> tuple[torch.Tensor, ...]:
    if a.table is None:  # not applicable: the answer and no table
        return (torch.tensor([float(a.verdict is None)]),)
    return (a.table, a.mask, *_result_tensors(a.result), *_diagnostics_tensors(a.diagnostics))


def _train_arguments() -> dict[str, Any]:
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[0, 1] = False
    return dict(target=one_hot_target(_table(), torch.float64), mask=mask, seed=3,
                recipe=_RECIPE, progress=_progress, monitor=_monitor, device="cpu",
                until_held_out=False)


def _recipe_arguments() -> dict[str, Any]:
    return dict(lr=0.4, momentum=0.8, clip=2.0, eps=0.05, eps_decay=0.9, eps_min=1e-5,
                balance_tol=1e-2, settle_tol=1e-4, window=20, patience=100, loss_tol=1e-6,
                max_steps=50, restarts=2, restart_h_tol=0.01, dtype=torch.float64)


def _diagnose_arguments() -> dict[str, Any]:
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[2, 2] = False
    return dict(factors=regular_representation(_table()), table=_table(), mask=mask,
                converged=True, train_loss=1e-9, operation_table=True)


ENTRIES = [
    Entry(("prodint.hypercube.make_table",), lambda a: make_table(**a),
          lambda: dict(task="zp-add", p=5)),
    Entry(("prodint.hypercube.make_table",), lambda a: make_table(**a),
          lambda: dict(task="zp-mul", p=5)),
    Entry(("prodint.hypercube.make_table",), lambda a: make_table(**a),
          lambda: dict(task="sn-conj", n=3)),
    Entry(("prodint.hypercube.make_table",), lambda a: make_table(**a),
          lambda: dict(task="zn", n=4)),
    Entry(("prodint.hypercube.check_table",), lambda a: check_table(**a),
          lambda: dict(table=_table(), argument="table"), free_text=frozenset({"argument"})),
    Entry(("prodint.hypercube.check_table",), lambda a: check_table(**a),
          lambda: dict(table=[[0, 1], [1, 0]], argument="rows"),
          free_text=frozenset({"argument"}), aliases={"table": ("rows",)}),
    Entry(("prodint.hypercube.load_table",), lambda a: load_table(**a),
          lambda: dict(path=_TABLE_FILE)),
    Entry(("prodint.hypercube.split_cells",), lambda a: split_cells(**a),
          lambda: dict(n=3, train_fraction=0.5, seed=2)),
    Entry(("prodint.hypercube.regular_representation",),
          lambda a: regular_representation(**a).tensors(),
          lambda: dict(table=_table(), dtype=torch.float64)),
    Entry(("prodint.hypercube.Factors",), lambda a: (Factors(**a).n, *Factors(**a).tensors()),
          lambda: dict(A=_factors().A, B=_factors().B, C=_factors().C)),
    Entry(("prodint.hypercube.Recipe",), lambda a: Recipe(**a), _recipe_arguments),
    Entry(("prodint.hypercube.train",), lambda a: _result_tensors(train(**a)),
          _train_arguments),
    Entry(("prodint.hypercube.diagnose",), lambda a: _diagnostics_tensors(diagnose(**a)),
          _diagnose_arguments),
    Entry(("prodint.hypercube.analyze_table",), lambda a: _analysis_tensors(analyze_table(**a)),
          lambda: dict(table=_table(), train_fraction=0.8, seed=1, recipe=_RECIPE,
                       progress=_progress, device="cpu")),
    Entry(("prodint.hypercube.analyze_algebra",),
          lambda a: _analysis_tensors(analyze_algebra(**a)),
          lambda: dict(algebra=group_algebra(cyclic(3)), train_fraction=0.8, seed=1,
                       recipe=_RECIPE, progress=_progress, device="cpu")),
    Entry(("prodint.hypercube.analyze_algebra",),
          lambda a: _analysis_tensors(analyze_algebra(**a)),
          lambda: dict(algebra=LearnedAlgebra(3, generator=torch.Generator().manual_seed(0)),
                       train_fraction=0.8, seed=1, recipe=_RECIPE, progress=_progress,
                       device="cpu")),
]

EXEMPT = {
    "prodint.hypercube.TASKS": "a constant: the task names and their descriptions",
    "prodint.hypercube.Analysis": "a result record, built by analyze_table/analyze_algebra",
    "prodint.hypercube.Diagnostics": "a result record, built by diagnose",
    "prodint.hypercube.Reduction": "a result record, built by analyze_algebra",
    "prodint.hypercube.TrainResult": "a result record, built by train",
}
