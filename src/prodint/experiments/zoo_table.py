"""Experiment ``zoo``: every classical family as a product interaction, exact against torch or
its peer, and timed.

The table is the zoo survey's (:func:`prodint.surveys.zoo.section`): per family its
counterpart, its expression's self-interaction order, the largest float64 difference of the
layer's ``forward``, ``general`` and ``reference`` to the counterpart, and the forward-time
ratio (float32). This experiment adds the source's claim beside each row (every classical
layer reproduced to float64 rounding), the plot of the time ratios (log scale) and the
command. Budgets: tiny surveys one family of each order 1, 2 and 3 (:data:`TINY_FAMILIES`)
with single timed calls; quick every family with blocks of 10 ms; full every family with
blocks of 200 ms.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from prodint.bench.zoo_pairs import PAIRS
from prodint.checks import check_instance
from prodint.experiments.figures import new_figure, write_png
from prodint.experiments.protocol import Budget, Experiment, command
from prodint.report import Section
from prodint.surveys import zoo

__all__ = ["EXPERIMENT", "EXPERIMENT_NAME", "TINY_FAMILIES", "run"]

EXPERIMENT_NAME = "zoo"
#: The families of the tiny budget: one of each order 1, 2, 3.
TINY_FAMILIES = ("dense", "GLU", "multi-head attention")
SOURCE = "reproduced to float64 rounding"
PLOT = f"{EXPERIMENT_NAME}-time-ratio.png"


def _plot(section: Section, out: Path) -> None:
    family, ratio = section.columns.index("family"), section.columns.index("time ratio")
    timed = [(row[family], row[ratio]) for row in section.rows
             if isinstance(row[ratio], int | float) and row[ratio] > 0]
    figure = new_figure(7.0, max(2.5, 0.32 * len(timed) + 1.2))
    ax = figure.add_subplot()
    ax.barh([name for name, _ in timed], [value for _, value in timed], color="tab:blue")
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set(xlabel="forward time / counterpart's (float32, log scale)",
           title="The zoo: forward time ratio per family")
    ax.grid(alpha=0.3, axis="x")
    write_png(figure, out / PLOT)


def run(budget: Budget, out: Path) -> list[Section]:
    """The zoo survey at the budget's size (module doc) with a ``source`` column, the time
    ratio plot written into ``out`` and the command.

    Raises:
        TypeError: ``budget`` is not a Budget, ``out`` not a path.
        OSError: the plot cannot be written.
    """
    check_instance(budget, "budget", Budget)
    check_instance(out, "out", Path)
    pairs = tuple(p for p in PAIRS if p.name in TINY_FAMILIES) if budget.size == "tiny" \
        else PAIRS
    section = zoo.section(pairs, min_seconds=float(budget.pick(0.0, 0.01, 0.2)))
    _plot(section, out)
    return [dataclasses.replace(
        section, columns=[*section.columns, "source"],
        rows=[[*row, SOURCE] for row in section.rows], plots=[PLOT],
        command=command(EXPERIMENT_NAME, budget))]


EXPERIMENT = Experiment(EXPERIMENT_NAME,
                        "The zoo: every classical layer reproduced to float64 rounding",
                        run, quick_minutes=1.5, full_minutes=5.0)
