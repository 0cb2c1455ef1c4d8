"""What an experiment of ``prodint reproduce`` is: its :class:`Budget`, the
:class:`Experiment` record and the :func:`command` that reruns it.

An experiment module exposes ``run(budget, out) -> [Section, ...]`` and an ``EXPERIMENT``;
:mod:`prodint.experiments.reproduce` lists them and runs them into one report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prodint.checks import check_choice, check_seed, describe
from prodint.report import Section

__all__ = ["SIZES", "Budget", "Experiment", "command"]

SIZES = ("tiny", "quick", "full")


@dataclass(frozen=True)
class Budget:
    """How much an experiment may spend, with the seed every run starts from and the device
    it trains on. ``size``: ``"quick"`` (what ``make demo`` runs: minutes, still showing the
    direction of each result), ``"full"`` (the documented hours) or ``"tiny"`` (seconds: a
    check that every section and plot is produced, for the test suite)."""

    size: str = "quick"
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_choice(self.size, "size", SIZES)
        check_seed(self.seed)
        if not isinstance(self.device, str) or not self.device:
            raise TypeError(f"device: expected a device name, received {describe(self.device)}")

    @property
    def quick(self) -> bool:
        """Whether this is a small budget (``tiny`` or ``quick``)."""
        return self.size != "full"

    def pick(self, tiny: object, quick: object, full: object) -> object:
        """The value for this budget's size."""
        return {"tiny": tiny, "quick": quick, "full": full}[self.size]


@dataclass(frozen=True)
class Experiment:
    """One experiment of the report.

    Attributes:
        name: its identifier (``prodint reproduce --only NAME``).
        title: one line naming the source's claim.
        run: ``run(budget, out) -> sections`` (plots written into ``out``).
        quick_minutes, full_minutes: the expected time on two CPU cores.
    """

    name: str
    title: str
    run: Callable[[Budget, Path], list[Section]]
    quick_minutes: float
    full_minutes: float


def command(name: str, budget: Budget) -> str:
    """The command that reruns experiment ``name`` alone with ``budget``."""
    quick = " --quick" if budget.quick else ""
    return f"prodint reproduce --only {name}{quick} --seed {budget.seed} --out reports/{name}"
