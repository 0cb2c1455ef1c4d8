"""The tour: what prodint builds, every table checked (the surveys of :mod:`prodint.surveys`).

The first experiment of the report: the algebra catalogue with each algebra's defining
identity checked, classical layers as product interactions with their orders (the zoo,
checked and timed against torch, is the report's last experiment,
:mod:`prodint.experiments.zoo_table`), learned structure constants constrained by a
symmetry, dense layers constrained into convolutions and group convolutions, the Deep Tensor
Network operators in their three forms, HyperCube's verdict on group and non-group tables,
and the size of the design space. Its budget does not change it: it is small.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prodint.experiments.protocol import Budget, Experiment, command
from prodint.report import Section
from prodint.surveys import algebra, hypercube, interaction, ops

__all__ = ["EXPERIMENT", "STEPS", "run"]

#: ``(status message, section builder)`` in the order of the report.
STEPS: tuple[tuple[str, Callable[[], Section]], ...] = (
    ("surveying the algebra catalogue", algebra.section),
    ("compiling classical layers", interaction.library_section),
    ("solving for equivariant structure constants", interaction.symmetry_section),
    ("constraining expressions by a symmetry", interaction.constrain_section),
    ("checking the Deep Tensor Network operators", ops.section),
    ("asking HyperCube which tables are groups", hypercube.section),
    ("enumerating the design space", interaction.design_space_section),
)


def run(budget: Budget, out: Path, *,
        progress: Callable[[str], None] | None = None) -> list[Section]:
    """Every section of the tour (``progress`` is told each step's status message)."""
    sections = []
    for message, build in STEPS:
        if progress is not None:
            progress(message)
        section = build()
        section.command = command("tour", budget)
        sections.append(section)
    return sections


EXPERIMENT = Experiment("tour", "The tour: what prodint builds, every table checked", run,
                        quick_minutes=1.0, full_minutes=1.0)
