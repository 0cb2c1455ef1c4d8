"""Registry entries: the classical zoo layers (see :mod:`prodint.families`)."""

from __future__ import annotations

import torch

from prodint.interaction.layer import Case, Family, choice, randn
from prodint.zoo.convolution import ConvNd, ConvTransposeNd
from prodint.zoo.dense import Dense
from prodint.zoo.gated import GLU, Bilinear, SwiGLU


def _dense(g: torch.Generator) -> Case:
    i, o = choice(g, [2, 3, 5]), choice(g, [1, 4])
    layer = Dense(i, o, bias=bool(choice(g, [0, 1]))).double()
    return Case(layer, (randn(g, 2, 3, i),), 1)


def _conv(n: int):
    def build(g: torch.Generator) -> Case:
        groups = choice(g, [1, 2])
        c, o = groups * choice(g, [1, 2]), groups * choice(g, [1, 2])
        layer = ConvNd(n, c, o, choice(g, [1, 2, 3]), stride=choice(g, [1, 2]),
                       padding=choice(g, [0, 1]), dilation=choice(g, [1, 2]), groups=groups,
                       bias=bool(choice(g, [0, 1])),
                       padding_mode=choice(g, ["zeros", "circular"])).double()
        return Case(layer, (randn(g, 2, c, *(7,) * n),), 1)

    return build


def _conv_transpose(n: int):
    def build(g: torch.Generator) -> Case:
        groups = choice(g, [1, 2])
        c, o = groups * choice(g, [1, 2]), groups * choice(g, [1, 2])
        stride = choice(g, [1, 2])
        layer = ConvTransposeNd(n, c, o, choice(g, [2, 3]), stride=stride,
                                padding=choice(g, [0, 1]),
                                output_padding=choice(g, [0, stride - 1]), groups=groups,
                                bias=bool(choice(g, [0, 1])),
                                dilation=choice(g, [1, 2])).double()
        return Case(layer, (randn(g, 2, c, *(5,) * n),), 1)

    return build


def _glu(g: torch.Generator) -> Case:
    i, h = choice(g, [2, 3]), choice(g, [2, 4])
    return Case(GLU(i, h, bias=bool(choice(g, [0, 1]))).double(), (randn(g, 3, i),), 2)


def _swiglu(g: torch.Generator) -> Case:
    i, h, o = choice(g, [2, 3]), choice(g, [2, 4]), choice(g, [1, 3])
    return Case(SwiGLU(i, h, o).double(), (randn(g, 2, 3, i),), 2)


def _bilinear(g: torch.Generator) -> Case:
    i, j, o = choice(g, [1, 2, 3]), choice(g, [2, 3]), choice(g, [1, 2])
    layer = Bilinear(i, j, o, bias=bool(choice(g, [0, 1]))).double()
    return Case(layer, (randn(g, 4, i), randn(g, 4, j)), 2)


FAMILIES: tuple[Family, ...] = (
    Family("zoo.Dense", _dense, compile=True),
    Family("zoo.Conv1d", _conv(1)),
    Family("zoo.Conv2d", _conv(2), compile=True),
    Family("zoo.Conv3d", _conv(3)),
    Family("zoo.ConvTranspose1d", _conv_transpose(1)),
    Family("zoo.ConvTranspose2d", _conv_transpose(2)),
    Family("zoo.GLU", _glu),
    Family("zoo.SwiGLU", _swiglu),
    Family("zoo.Bilinear", _bilinear),
)
