"""Registry entries of ``prodint.symmetry`` (see :mod:`prodint.families`): one per layer family."""

from __future__ import annotations

from prodint.interaction.layer import Family

FAMILIES: tuple[Family, ...] = ()
