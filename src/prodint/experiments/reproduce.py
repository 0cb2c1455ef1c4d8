"""The main job: the source papers' experiments at our scale, in one report.

An :class:`~prodint.experiments.protocol.Experiment` is a name, a title and
``run(budget, out) -> [Section, ...]``: it trains
what it needs within its :class:`Budget` (``quick``: minutes on two CPU cores, still showing
the direction of each result; full: the documented hours), draws at least one PNG into
``out`` and returns report sections (:class:`prodint.report.Section`) whose rows put our
numbers beside the source's, each carrying its plots and the command that reruns it alone
(:func:`command`). :data:`EXPERIMENTS` lists them in the order of the report;
:func:`run_experiments` runs a selection and returns every section.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from prodint.checks import check_instance, describe
from prodint.experiments import (
    dtn_softmax,
    hypercube_runs,
    order_rank,
    sparse_forms,
    structure_constants,
    tour,
    zoo_table,
)
from prodint.experiments.protocol import Budget, Experiment
from prodint.report import Section
from prodint.storage import check_output_folder

__all__ = ["EXPERIMENTS", "run_experiments"]


#: Every experiment, in the order of the report.
EXPERIMENTS: tuple[Experiment, ...] = (
    tour.EXPERIMENT, structure_constants.EXPERIMENT, order_rank.EXPERIMENT,
    sparse_forms.EXPERIMENT, dtn_softmax.EXPERIMENT, hypercube_runs.EXPERIMENT,
    zoo_table.EXPERIMENT)


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
