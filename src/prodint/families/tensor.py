"""Registry entries: the Deep Tensor Network layers (see :mod:`prodint.families`).

Tensor attention (causal with and without decay and normalisation, the per-head RMS norm on
and off; non-causal with and without normalisation), tensor interaction (causal and not),
the DTN block with either channel mixer, and a tiny DTN language model. Every case is small
(width 2 to 8, 5 to 7 tokens, chunks of 2 or 3 so the chunked kernels cross chunk
boundaries).

Normalised tensor attention divides by ``n_t = Σ (q_t·k_i)(q_j·k_i)``, which can cross zero
(the guard is tested in ``tests/ops/test_tensor_attention.py``); its cases draw positive
inputs and positive ``Wq``, ``Wk`` so that every ``q·k`` is positive and the ratio is well
conditioned enough to compare float32 with float64.
"""

from __future__ import annotations

import torch

from prodint.interaction.registry import Case, Family, choice, randn
from prodint.nn.dtn import DTN, DTNBlock, TensorAttention, TensorInteraction

F64 = torch.float64


def _positive_queries(layer: TensorAttention, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        for name in ("Wq", "Wk"):
            layer.param(name).abs_()
    return x.abs() + 0.1


def _tensor_attention(causal: bool, **options: object):
    def build(g: torch.Generator) -> Case:
        heads = choice(g, [1, 2])
        width = heads * choice(g, [2, 3])
        layer = TensorAttention(width, heads, causal=causal, chunk_size=choice(g, [2, 3]),
                                dtype=F64, generator=g, **options)  # type: ignore[arg-type]
        x = randn(g, 2, choice(g, [5, 7]), width)
        return Case(layer, (_positive_queries(layer, x) if layer.normalize else x,), 5)

    return build


def _tensor_interaction(causal: bool):
    def build(g: torch.Generator) -> Case:
        heads = choice(g, [1, 2])
        width = heads * choice(g, [2, 3])
        layer = TensorInteraction(width, heads, causal=causal, chunk_size=choice(g, [2, 3]),
                                  dtype=F64, generator=g)
        return Case(layer, (randn(g, 2, choice(g, [5, 7]), width),), 5)

    return build


def _block(mixer: str, order: int):
    def build(g: torch.Generator) -> Case:
        heads = choice(g, [1, 2])
        width = heads * choice(g, [2, 4])
        layer = DTNBlock(width, heads, channel_mixer=mixer, hidden=choice(g, [4, 8]),
                         decay=choice(g, [None, 0.9]), local_conv=choice(g, [0, 2, 3]),
                         chunk_size=choice(g, [2, 3]), dtype=F64, generator=g)
        return Case(layer, (randn(g, 2, choice(g, [5, 6]), width),), order)

    return build


def _model(g: torch.Generator) -> Case:
    depth = choice(g, [1, 2])
    layer = DTN(11, 8, depth, 2, local_conv=choice(g, [0, 3]), chunk_size=choice(g, [2, 3]),
                dtype=F64, generator=g)
    tokens = torch.randint(11, (2, choice(g, [5, 6])), generator=g)
    return Case(layer, (tokens,), 5 ** depth)


FAMILIES: tuple[Family, ...] = (
    # decay on/off × normalisation on/off, each with and without the per-head RMS norm
    Family("nn.TensorAttention.causal", _tensor_attention(True)),
    Family("nn.TensorAttention.causal.decay", _tensor_attention(True, decay=0.8,
                                                                output_norm=False)),
    Family("nn.TensorAttention.causal.normalize",
           _tensor_attention(True, normalize=True, output_norm=False)),
    Family("nn.TensorAttention.causal.decay_normalize",
           _tensor_attention(True, decay=0.8, normalize=True), compile=True),
    Family("nn.TensorAttention", _tensor_attention(False, output_norm=False)),
    Family("nn.TensorAttention.normalize", _tensor_attention(False, normalize=True)),
    Family("nn.TensorInteraction.causal", _tensor_interaction(True)),
    Family("nn.TensorInteraction", _tensor_interaction(False)),
    Family("nn.DTNBlock.mlp", _block("mlp", 5)),
    Family("nn.DTNBlock.tensor_interaction", _block("tensor_interaction", 25)),
    Family("nn.DTN", _model),
)
