"""The main job: the source papers' experiments at our scale, in one report.

An :class:`Experiment` is a name, a title and ``run(budget, out) -> [Section, ...]``: it trains
what it needs within its :class:`Budget` (``quick``: minutes on two CPU cores, still showing
the direction of each result; full: the documented hours), draws at least one PNG into
``out`` and returns report sections (:class:`prodint.report.Section`) whose rows put our
numbers beside the source's, each carrying its plots and the command that reruns it alone
(:func:`command`). :data:`EXPERIMENTS` lists them in the order of the report;
:func:`run_experiments` runs a selection and returns every section.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prodint.checks import check_choice, check_instance, check_seed, describe
from prodint.report import Section
from prodint.storage import check_output_folder

__all__ = ["EXPERIMENTS", "SIZES", "Budget", "Experiment", "command", "run_experiments"]


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



def _experiments() -> tuple[Experiment, ...]:
    from prodint.experiments import tour

    return (tour.EXPERIMENT,)


#: Every experiment, in the order of the report.
EXPERIMENTS: tuple[Experiment, ...] = _experiments()


def run_experiments(budget: Budget, out: Path, names: Sequence[str] | None = None, *,
                    progress: Callable[[str], None] | None = None) -> list[Section]:
    """Run the experiments ``names`` (all by default), in the report's order; return their
    sections. ``progress`` is told the title of each experiment as it starts.

    Raises:
        TypeError: a budget of another kind, ``names`` not a list of str.
        ValueError: an unknown experiment name, an ``out`` that cannot be a folder.
    """
    check_instance(budget, "budget", Budget)
    out = check_output_folder(out, "out")
    if names is not None and (isinstance(names, str) or not isinstance(names, Sequence)
                              or not all(isinstance(n, str) for n in names)):
        raise TypeError(f"only: expected a list of experiment names, received "
                        f"{describe(names)}")
    known = {e.name: e for e in EXPERIMENTS}
    chosen = list(known) if names is None else list(names)
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise ValueError(f"only: expected names among {list(known)}, received {unknown}")
    sections: list[Section] = []
    for experiment in EXPERIMENTS:
        if experiment.name not in chosen:
            continue
        if progress is not None:
            progress(experiment.title)
        sections.extend(experiment.run(budget, out))
    return sections
