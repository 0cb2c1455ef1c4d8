"""The size check of the expression language's parameters, built on :mod:`prodint.checks`
(which holds every other validator the nodes and layers use: names, devices, dtypes,
generators)."""

from __future__ import annotations

from collections.abc import Sequence

from prodint.checks import check_memory

__all__ = ["check_parameter_size"]


def check_parameter_size(sizes: Sequence[int], argument: str, what: str) -> None:
    """Refuse (``ValueError`` naming ``argument``) a tensor of ``sizes`` whose float64 entries
    would not fit in :func:`prodint.checks.memory_limit`."""
    count = 1
    for size in sizes:
        count *= size
    check_memory(8 * count, argument, what)
