"""Registry entries: expressions constrained by a symmetry (see :mod:`prodint.families`).

Each layer is a plain expression whose parameter :func:`~prodint.interaction.constrain`
replaced by its invariant parametrization, so the registry test holds the tie table (or the
basis contraction) equal across forward, the compiled plan and the node-by-node evaluation:

- ``constrained.translation_dense``: a dense layer on a small grid under the translations of
  the torus (a circular convolution; with a ``3×3`` support, a ``3×3`` one); order 1;
- ``constrained.group_layer``: the same with ``C4`` or ``D4`` on the grid and a group axis (a
  group convolution with circular padding) and a constrained bias; order 1;
- ``constrained.so3_vector_map``: vectors to vectors under SO(3), a basis contraction (the
  SVD solver); order 1;
- ``constrained.learned_bilinear``: ``(X W1) ·_A (X W2)`` over a learned algebra in
  ``constrained`` mode on some legs, its structure constants inlined into the expression;
  order 2.
"""

from __future__ import annotations

import torch

from prodint.algebra import LearnedAlgebra
from prodint.algebra.learned import LEGS
from prodint.groups import (
    cyclic,
    dihedral,
    permutation,
    regular,
    so3_vector,
    symmetric,
    symmetric_permutations,
)
from prodint.interaction import Contract, Parameter, Signal, compile, constrain, library
from prodint.interaction.learned import inline_learned
from prodint.interaction.registry import Case, Family, choice, randn
from prodint.interaction.symmetry_facts import group_convolution_layer, translation_dense_layer

F64 = torch.float64


def _translation_dense(g: torch.Generator) -> Case:
    c, o, n = choice(g, [1, 2]), choice(g, [1, 3]), choice(g, [3, 4])
    layer = translation_dense_layer(c, o, n, kernel=choice(g, [None, 3]), generator=g)
    return Case(layer, (randn(g, 2, c, n, n),), 1)


def _group_layer(g: torch.Generator) -> Case:
    group = choice(g, [cyclic(4), dihedral(4)])
    c, o, n = choice(g, [1, 2]), choice(g, [1, 2]), choice(g, [3, 4])
    layer = group_convolution_layer(group, c, o, n, 3, generator=g)
    return Case(layer, (randn(g, 2, c, group.order, n, n),), 1)


def _so3_vector_map(g: torch.Generator) -> Case:
    c, o = choice(g, [1, 2]), choice(g, [1, 3])
    vector = so3_vector()
    x = Signal("X", [("t", None), ("i", 3), ("c", c)])
    w = Parameter("W", [("i", 3), ("c", c), ("j", 3), ("o", o)], fan_in=("i", "c"))
    expr = constrain(Contract(x, w, over=("i", "c")), "W", {"i": vector, "j": vector})
    return Case(compile(expr, dtype=F64, generator=g), (randn(g, 2, 5, 3, c),), 1)


def _learned_bilinear(g: torch.Generator) -> Case:
    rep = choice(g, [regular(cyclic(4)), regular(dihedral(3)), so3_vector(),
                     permutation(symmetric(3), symmetric_permutations(3))])
    legs = choice(g, [LEGS, ("b", "c"), ("a", "c")])
    algebra = LearnedAlgebra(rep.dim, symmetry=rep, mode="constrained", legs=legs)
    c = choice(g, [2, 3])
    layer = compile(inline_learned(library.bilinear(c, algebra)), dtype=F64, generator=g)
    return Case(layer, (randn(g, 2, 4, c),), 2)


FAMILIES: tuple[Family, ...] = (
    Family("constrained.translation_dense", _translation_dense, compile=True),
    Family("constrained.group_layer", _group_layer),
    Family("constrained.so3_vector_map", _so3_vector_map),
    Family("constrained.learned_bilinear", _learned_bilinear),
)
