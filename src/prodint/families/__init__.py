"""The registry of every layer family prodint ships, each with a random configuration.

A family is a :class:`~prodint.interaction.registry.Family`: a name, ``build(generator) ->
Case`` (a small float64 layer, its inputs and its documented order) and whether
``torch.compile(general, fullgraph=True)`` must work. The entries are grouped by topic:

- :mod:`prodint.families.expressions`: the expression library, compiled;
- :mod:`prodint.families.classic`: dense, convolution, gated, attention, encoder, recurrent;
- :mod:`prodint.families.sequence`: selective scan, Mamba, linear attention, language-model
  blocks;
- :mod:`prodint.families.tensor`: the Deep Tensor Network (tensor attention and interaction);
- :mod:`prodint.families.equivariant`: group convolution, Clifford and algebra layers, tensor
  products and the other symmetry layers;
- :mod:`prodint.families.constrained`: expressions constrained by a symmetry, learned
  structure constants.

One test over the registry (``tests/test_families.py``) holds ``forward == general ==
reference`` for every family, values and gradients, in float64 and float32; every later pass
over expressions is tested over the same registry. A new family is covered by registering it.
"""

from __future__ import annotations

from prodint.families import classic, constrained, equivariant, expressions, sequence, tensor
from prodint.interaction.registry import Family

__all__ = ["families"]


def families() -> dict[str, Family]:
    """Every registered family, by name (names are unique)."""
    out: dict[str, Family] = {}
    for module in (expressions, classic, sequence, tensor, equivariant, constrained):
        for family in module.FAMILIES:
            if family.name in out:
                raise ValueError(f"families: the name {family.name!r} is registered twice")
            out[family.name] = family
    return out
