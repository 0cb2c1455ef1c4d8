"""Registry entries: equivariant layer families (see :mod:`prodint.families`)."""

from __future__ import annotations

from prodint.interaction.layer import Family

FAMILIES: tuple[Family, ...] = ()
