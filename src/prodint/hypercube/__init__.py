"""HyperCube: is an operation table a group, and what is its representation.

``T[a, b, c] = tr(A_a B_b C_c)/n`` is fitted to the observed cells of a table with the
regularizer ``H`` (:mod:`prodint.hypercube.model`), trained by the recipe with restarts of
:mod:`prodint.hypercube.train`, and diagnosed by :mod:`prodint.hypercube.diagnostics`
(held-out accuracy, ``H/3n²``, unitarity, the recovered representation and the verdict
``is_group_isotope`` with its evidence). :func:`analyze_table` and :func:`analyze_algebra` run
the whole pipeline; ``prodint hypercube`` is its command line (:mod:`prodint.cli.hypercube`).
An algebra whose structure constants are not a 0/1 table is first reduced to one where a basis
of that form exists (a rescaled table, or a group basis read off the characters of a
commutative algebra: :mod:`prodint.hypercube.reduce`, the :class:`Reduction` record), proven to
have none (verdict ``False``), or answered "not applicable" (verdict ``None``) with the reason.

>>> from prodint.hypercube import make_table
>>> make_table("z6")[1]  # the row of 1 in x + y mod 6
tensor([1, 2, 3, 4, 5, 0])
"""

from prodint.hypercube.analyze import Analysis, analyze_algebra, analyze_table
from prodint.hypercube.diagnostics import Diagnostics, diagnose
from prodint.hypercube.model import Factors, regular_representation
from prodint.hypercube.recipe import Recipe
from prodint.hypercube.reduce import Reduction
from prodint.hypercube.tables import TASKS, check_table, load_table, make_table, split_cells
from prodint.hypercube.train import TrainResult, train

__all__ = [
    "TASKS",
    "Analysis",
    "Diagnostics",
    "Factors",
    "Recipe",
    "Reduction",
    "TrainResult",
    "analyze_algebra",
    "analyze_table",
    "check_table",
    "diagnose",
    "load_table",
    "make_table",
    "regular_representation",
    "split_cells",
    "train",
]
