"""The registry of every layer family prodint ships, each with a random configuration.

A family is a :class:`~prodint.interaction.layer.Family`: a name, ``build(generator) ->
Case`` (a small float64 layer, its inputs and its documented order) and whether
``torch.compile(general, fullgraph=True)`` must work. Each package lists its own families
(``prodint.interaction.families``, ``prodint.zoo.families``, ``prodint.nn.families``,
``prodint.symmetry.families``); this module joins them. One test over the registry
(``tests/test_families.py``) holds ``forward == general == reference`` for every family,
values and gradients, in float64 and float32; every later pass over expressions is tested
over the same registry. A new family is covered by registering it.
"""

from __future__ import annotations

from prodint.interaction.families import FAMILIES as INTERACTION
from prodint.interaction.layer import Family
from prodint.nn.families import FAMILIES as NN
from prodint.symmetry.families import FAMILIES as SYMMETRY
from prodint.zoo.families import FAMILIES as ZOO


def families() -> dict[str, Family]:
    """Every registered family, by name (names are unique)."""
    out: dict[str, Family] = {}
    for family in (*INTERACTION, *ZOO, *NN, *SYMMETRY):
        if family.name in out:
            raise ValueError(f"families: the name {family.name!r} is registered twice")
        out[family.name] = family
    return out
