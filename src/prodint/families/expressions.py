"""Registry entries of the expression library: each classical expression compiled as a layer.

See :mod:`prodint.families`. Each ``build`` compiles one expression of
:mod:`prodint.interaction.library` at a random small size; its forward is the plan itself,
so the registry test checks plan against reference and the documented order.
"""

from __future__ import annotations

import torch

from prodint.algebra import complex_numbers, hadamard, quaternions
from prodint.interaction import library
from prodint.interaction.layer import compile
from prodint.interaction.registry import Case, Family, choice, randn


def _inputs(generator: torch.Generator, channels: int) -> tuple[torch.Tensor, ...]:
    batch, length = choice(generator, [1, 2]), choice(generator, [3, 5, 7])
    return (randn(generator, batch, length, channels),)


def _dense(g: torch.Generator) -> Case:
    c, o = choice(g, [2, 3, 4]), choice(g, [2, 5])
    layer = compile(library.dense(c, o, bias=bool(choice(g, [0, 1]))), dtype=torch.float64,
                    generator=g)
    return Case(layer, _inputs(g, c), 1)


def _conv1d(g: torch.Generator) -> Case:
    c, o, k = choice(g, [2, 3]), choice(g, [2, 4]), choice(g, [1, 2, 3])
    expr = library.conv1d(c, o, k, padding=choice(g, [0, 1]), dilation=choice(g, [1, 2]))
    inputs = (randn(g, 2, 9, c),)
    return Case(compile(expr, dtype=torch.float64, generator=g), inputs, 1)


def _linear_recurrence(g: torch.Generator) -> Case:
    c, h = choice(g, [1, 2, 3]), choice(g, [2, 4])
    layer = compile(library.linear_recurrence(c, h), dtype=torch.float64, generator=g)
    return Case(layer, _inputs(g, c), 1)


def _glu(g: torch.Generator) -> Case:
    c, h = choice(g, [2, 4]), choice(g, [3, 6])
    return Case(compile(library.glu(c, h), dtype=torch.float64, generator=g), _inputs(g, c), 2)


def _bilinear(g: torch.Generator) -> Case:
    c = choice(g, [2, 3])
    algebra = choice(g, [hadamard(3), complex_numbers(), quaternions()])
    layer = compile(library.bilinear(c, algebra), dtype=torch.float64, generator=g)
    return Case(layer, _inputs(g, c), 2)


def _attention(kind: str, order: int, **options: bool):
    def build(g: torch.Generator) -> Case:
        c, d, e = choice(g, [3, 4]), choice(g, [2, 3]), choice(g, [2, 4])
        expr = getattr(library, kind)(c, d, e, **options)
        return Case(compile(expr, dtype=torch.float64, generator=g), _inputs(g, c), order)

    return build


def _multihead(g: torch.Generator) -> Case:
    heads = choice(g, [1, 2])
    c = heads * choice(g, [2, 3])
    expr = library.multihead_attention(c, heads, causal=bool(choice(g, [0, 1])))
    return Case(compile(expr, dtype=torch.float64, generator=g), _inputs(g, c), 3)


FAMILIES: tuple[Family, ...] = (
    Family("library.dense", _dense, compile=True),
    Family("library.conv1d", _conv1d),
    Family("library.linear_recurrence", _linear_recurrence),
    Family("library.glu", _glu, compile=True),
    Family("library.bilinear", _bilinear),
    Family("library.linear_attention", _attention("linear_attention", 3)),
    Family("library.linear_attention.causal",
           _attention("linear_attention", 3, causal=True)),
    Family("library.softmax_attention.causal",
           _attention("softmax_attention", 3, causal=True)),
    Family("library.multihead_attention", _multihead),
    Family("library.tensor_attention", _attention("tensor_attention", 5)),
)
