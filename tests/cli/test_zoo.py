"""``prodint zoo``: every family's three executions in one table, the exit status its verdict.

The whole zoo is checked in ``tests/surveys/test_zoo.py``; here three families (one of them a
layer called with options) exercise the command.
"""

import pytest
import torch
from torch import nn

from prodint.bench.zoo_pairs import PAIRS, Built, Pair
from prodint.cli import main
from prodint.surveys import zoo
from prodint.zoo import from_torch

SOME = ("dense", "multi-head attention", "transformer encoder layer")


def test_zoo_command(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(zoo, "PAIRS", tuple(p for p in PAIRS if p.name in SOME))
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SOME) and "nn.Linear" in out
    assert "general error" in out and "reference error" in out and "failed" not in out


def test_a_wrong_family_fails_the_command(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def make(dtype: torch.dtype) -> Built:
        torch.manual_seed(0)
        module = nn.Linear(3, 2).to(dtype)
        layer = from_torch(module)
        with torch.no_grad():
            module.bias.add_(1.0)  # the counterpart no longer computes what the layer does
        return Built(layer, module, (torch.randn(4, 3, dtype=dtype),))

    monkeypatch.setattr(zoo, "PAIRS", (Pair("shifted dense", "nn.Linear", make),))
    assert main(["zoo"]) == 1
    assert "shifted dense" in capsys.readouterr().out
