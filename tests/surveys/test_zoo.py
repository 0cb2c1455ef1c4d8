"""The zoo table: every family's three executions exact against its counterpart; failures
are reported, not hidden."""

import math

import pytest
import torch
from torch import nn

from prodint.bench.zoo_pairs import PAIRS, Built, Pair
from prodint.surveys.zoo import EXECUTIONS, section, survey, survey_family
from prodint.zoo import from_torch


def test_every_family_exact_with_its_order() -> None:
    rows = {r.name: r for r in survey(min_seconds=0.0)}
    assert set(rows) == {p.name for p in PAIRS}
    assert all(r.passed for r in rows.values()), {n: r.failures or r.errors
                                                  for n, r in rows.items() if not r.passed}
    for r in rows.values():
        assert set(r.errors) == set(EXECUTIONS) and r.max_error < 1e-10
    assert rows["dense"].order == 1 and rows["GLU"].order == 2
    assert rows["multi-head attention"].order == 3
    assert all(r.time_ratio > 0 for r in rows.values())


class _BrokenGeneral(nn.Module):
    """A layer whose fast path is right but whose ``general`` raises and whose ``reference``
    is wrong: the survey must say so for each."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = from_torch(nn.Linear(3, 2).double())
        self.expression = self.inner.expression

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)

    def general(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("not compiled yet")

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.reference(x) + 1.0


def test_a_failing_execution_is_reported_not_replaced() -> None:
    def make(dtype: torch.dtype) -> Built:
        layer = _BrokenGeneral().to(dtype)
        return Built(layer, layer.inner, (torch.randn(4, 3, dtype=dtype),))

    row = survey_family(Pair("broken", "itself", make), min_seconds=0.0)
    assert row.errors["forward"] == 0.0
    assert math.isnan(row.errors["general"])
    assert abs(row.errors["reference"] - 1.0) < 1e-12
    assert row.failures == ("general: NotImplementedError: not compiled yet",)
    assert not row.passed and row.max_error == math.inf


class _BrokenForward(_BrokenGeneral):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("no fast path")


def test_a_failed_forward_has_no_time_ratio_and_the_report_stays_json() -> None:
    def make(dtype: torch.dtype) -> Built:
        layer = _BrokenForward().to(dtype)
        return Built(layer, layer.inner, (torch.randn(4, 3, dtype=dtype),))

    table = section((Pair("broken", "itself", make),), min_seconds=0.0)
    row, = table.rows
    assert row[3] == "failed" and row[6] == "-" and not table.passed
    assert table.notes == ["broken: forward: RuntimeError: no fast path",
                           "broken: general: NotImplementedError: not compiled yet"]
    with pytest.raises(TypeError, match=r"^pairs: expected a Pair"):
        survey(("dense",), min_seconds=0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^min_seconds: expected a finite number >= 0"):
        survey_family(Pair("broken", "itself", make), min_seconds=-1.0)
