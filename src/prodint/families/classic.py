"""Registry entries: the classical zoo layers (see :mod:`prodint.families`)."""

from __future__ import annotations

import torch

from prodint.interaction.registry import Case, Family, choice, randn
from prodint.zoo.attention import MultiheadAttention
from prodint.zoo.convolution import ConvNd, ConvTransposeNd
from prodint.zoo.dense import Dense
from prodint.zoo.encoder import TransformerEncoderLayer
from prodint.zoo.gated import GLU, Bilinear, SwiGLU
from prodint.zoo.recurrent import GRU, LSTM, ElmanRNN, RecurrentLayer


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


def _sequence(g: torch.Generator, batch_first: bool, length: int, features: int,
              batch: int = 2) -> torch.Tensor:
    """A float64 sequence in torch's layout, ``[B, T, F]`` or ``[T, B, F]``."""
    return randn(g, batch, length, features) if batch_first else \
        randn(g, length, batch, features)


def _key_padding(g: torch.Generator, batch: int, source: int) -> torch.Tensor:
    """A random boolean key-padding mask ``[B, S]`` that leaves every row a key."""
    mask = torch.rand(batch, source, generator=g) < 0.4
    mask[:, 0] = False
    return mask


def _attention(masks: str):
    """Multi-head attention with ``masks`` "none" (cross attention, own key and value sizes),
    "padding" (a key-padding mask) or "causal" (a boolean causal attention mask)."""

    def build(g: torch.Generator) -> Case:
        heads = choice(g, [1, 2])
        embed = heads * choice(g, [2, 3])
        cross = masks == "none"
        kdim, vdim = (choice(g, [2, 3]), choice(g, [1, 4])) if cross else (None, None)
        batch_first = bool(choice(g, [0, 1]))
        layer = MultiheadAttention(embed, heads, bias=bool(choice(g, [0, 1])), kdim=kdim,
                                   vdim=vdim, batch_first=batch_first, dtype=torch.float64,
                                   generator=g)
        length = choice(g, [3, 4])
        source = choice(g, [2, 5]) if cross else length
        q = _sequence(g, batch_first, length, embed)
        k = _sequence(g, batch_first, source, kdim or embed) if cross else q
        v = _sequence(g, batch_first, source, vdim or embed) if cross else q
        named = {}
        if masks == "padding":
            named["key_padding_mask"] = _key_padding(g, 2, source)
        if masks == "causal":
            named["attn_mask"] = torch.ones(length, source, dtype=torch.bool).triu(1)
        return Case(layer, (q, k, v), 3, named)

    return build


def _encoder(norm_first: bool, activation: str):
    def build(g: torch.Generator) -> Case:
        heads = choice(g, [1, 2])
        width = heads * choice(g, [2, 3])
        batch_first = bool(choice(g, [0, 1]))
        layer = TransformerEncoderLayer(width, heads, choice(g, [3, 5]), activation=activation,
                                        batch_first=batch_first, norm_first=norm_first,
                                        bias=bool(choice(g, [0, 1])), dtype=torch.float64,
                                        generator=g)
        length = choice(g, [3, 4])
        named = {"src_key_padding_mask": _key_padding(g, 2, length)} \
            if choice(g, [0, 1]) else {}
        return Case(layer, (_sequence(g, batch_first, length, width),), 3, named)

    return build


def _recurrent(kind: type[RecurrentLayer], step_order: int, **options: str):
    """A 1–2 layer stack (bidirectional or not) with an initial state; its documented order
    is the per-step order of the stack, ``step_order`` per layer, multiplied over layers."""

    def build(g: torch.Generator) -> Case:
        layers, bidirectional = choice(g, [1, 2]), bool(choice(g, [0, 1]))
        batch_first, c, h = bool(choice(g, [0, 1])), choice(g, [2, 3]), choice(g, [2, 3])
        layer = kind(c, h, num_layers=layers, bias=bool(choice(g, [0, 1])),
                     batch_first=batch_first, bidirectional=bidirectional, dtype=torch.float64,
                     generator=g, **options)
        x = _sequence(g, batch_first, choice(g, [1, 3, 4]), c)
        states = [randn(g, layers * (2 if bidirectional else 1), 2, h)
                  for _ in range(kind.states)]
        hx = states[0] if kind.states == 1 else tuple(states)
        return Case(layer, (x, hx), step_order ** layers)

    return build


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
    Family("zoo.MultiheadAttention", _attention("none")),
    Family("zoo.MultiheadAttention.key_padding", _attention("padding")),
    Family("zoo.MultiheadAttention.causal", _attention("causal")),
    Family("zoo.TransformerEncoderLayer.post_norm.relu", _encoder(False, "relu")),
    Family("zoo.TransformerEncoderLayer.post_norm.gelu", _encoder(False, "gelu")),
    Family("zoo.TransformerEncoderLayer.pre_norm.gelu", _encoder(True, "gelu")),
    Family("zoo.TransformerEncoderLayer.pre_norm.relu", _encoder(True, "relu")),
    Family("zoo.ElmanRNN.tanh", _recurrent(ElmanRNN, 1)),
    Family("zoo.ElmanRNN.relu", _recurrent(ElmanRNN, 1, nonlinearity="relu")),
    Family("zoo.GRU", _recurrent(GRU, 3)),
    Family("zoo.LSTM", _recurrent(LSTM, 3)),
)
