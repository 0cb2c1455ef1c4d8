"""Registry entries: sequence layer families (see :mod:`prodint.families`).

Mamba's block (one family per scan form, biases drawn), linear attention (causal in a drawn
fast form, and non-causal), the softmax language model's causal attention, its block and a
tiny softmax language model, and a tiny :class:`~prodint.nn.stacked_lm.StackedLM` that stacks
a Mamba block and a linear-attention block; the order-k, rank-R interaction the order-rank
experiment trains (:mod:`prodint.train.higher_order`), of order 1, 2 and 3. Each case is
small (a few channels, 5 to 12 tokens, longer than the chunks) so that the registry test runs
each in well under a second.
"""

from __future__ import annotations

import torch

from prodint.interaction.registry import Case, Family, choice, randn
from prodint.nn.softmax_lm import CausalSelfAttention, SoftmaxBlock, SoftmaxLM
from prodint.nn.stacked_lm import StackedLM
from prodint.ops.selective_scan import MODES as SCAN_MODES
from prodint.train.higher_order import higher_order_mixer
from prodint.zoo.linear_attention import LinearAttention
from prodint.zoo.mamba import MambaBlock

F64 = torch.float64


def _mamba(mode: str):
    def build(g: torch.Generator) -> Case:
        d_model = choice(g, [4, 6])
        layer = MambaBlock(d_model, d_state=choice(g, [2, 3]), d_conv=choice(g, [2, 3, 4]),
                           expand=choice(g, [1, 2]), dt_rank=choice(g, [1, 2]),
                           bias=bool(choice(g, [0, 1])), conv_bias=bool(choice(g, [0, 1])),
                           mode=mode, chunk_size=choice(g, [2, 3, 8]), dtype=F64,
                           generator=g)
        # drive (Δ ⊙ u) ⊗ B: 3, the decay enters: 4, the readout by C: 5, the gate: 6
        return Case(layer, (randn(g, 2, choice(g, [5, 9]), d_model),), 6)

    return build


def _linear_attention(causal: bool):
    def build(g: torch.Generator) -> Case:
        heads = choice(g, [1, 2])
        width = heads * choice(g, [2, 3])
        modes = ["chunk", "recurrent"] if causal else ["chunk"]
        layer = LinearAttention(width, heads, causal=causal, mode=choice(g, modes),
                                chunk_size=choice(g, [2, 4]), dtype=F64, generator=g)
        return Case(layer, (randn(g, 2, choice(g, [7, 12]), width),), 3)

    return build


def _softmax_attention(g: torch.Generator) -> Case:
    heads = choice(g, [1, 2])
    width = heads * choice(g, [2, 3])
    layer = CausalSelfAttention(width, heads, dtype=F64, generator=g)
    return Case(layer, (randn(g, 2, choice(g, [6, 9]), width),), 3)


def _softmax_block(g: torch.Generator) -> Case:
    heads = choice(g, [1, 2])
    width = heads * choice(g, [2, 4])
    layer = SoftmaxBlock(width, heads, hidden=choice(g, [4, 8]),
                         local_conv=choice(g, [0, 2, 3]), dtype=F64, generator=g)
    # attention multiplies the order by 3; the norms, the convolution, the MLP keep it
    return Case(layer, (randn(g, 2, choice(g, [5, 7]), width),), 3)


def _softmax_lm(g: torch.Generator) -> Case:
    depth = choice(g, [1, 2])
    layer = SoftmaxLM(11, 8, depth, 2, local_conv=choice(g, [0, 3]), dtype=F64, generator=g)
    tokens = torch.randint(11, (2, choice(g, [5, 6])), generator=g)
    return Case(layer, (tokens,), 3 ** depth)


def _stacked_lm(g: torch.Generator) -> Case:
    mamba = MambaBlock(8, d_state=choice(g, [2, 3]), d_conv=choice(g, [2, 3]),
                       expand=choice(g, [1, 2]), mode=choice(g, SCAN_MODES),
                       chunk_size=choice(g, [2, 3]), dtype=F64, generator=g)
    attention = LinearAttention(8, 2, mode=choice(g, ["chunk", "recurrent"]),
                                chunk_size=choice(g, [2, 4]), dtype=F64, generator=g)
    # bare blocks, no residual paths: a unit embedding and the cubic attention first keep
    # the logits of order one (the model's small embedding would leave them near 1e-14)
    layer = StackedLM(11, 8, [attention, mamba], dtype=F64, generator=g)
    with torch.no_grad():
        layer.embed.weight.normal_(generator=g)
    tokens = torch.randint(11, (2, choice(g, [5, 7])), generator=g)
    # Mamba's block has order 6, linear attention 3: each multiplies its input's order
    return Case(layer, (tokens,), 6 * 3)


def _higher_order(order: int):
    def build(g: torch.Generator) -> Case:
        width = choice(g, [2, 3, 4])
        layer = higher_order_mixer(width, order, choice(g, [1, 2]), choice(g, [1, 2, 3]),
                                   generator=g, dtype=F64)
        return Case(layer, (randn(g, choice(g, [1, 2]), choice(g, [3, 5]), width),), order)

    return build


FAMILIES: tuple[Family, ...] = (
    *(Family(f"zoo.MambaBlock.{mode}", _mamba(mode)) for mode in ("naive", "chunk", "recurrent")),
    Family("zoo.LinearAttention.causal", _linear_attention(True), compile=True),
    Family("zoo.LinearAttention", _linear_attention(False)),
    Family("nn.CausalSelfAttention", _softmax_attention),
    Family("nn.SoftmaxBlock", _softmax_block, compile=True),
    Family("nn.SoftmaxLM", _softmax_lm),
    Family("nn.StackedLM.mamba_linear_attention", _stacked_lm),
    *(Family(f"train.higher_order.order{k}", _higher_order(k)) for k in (1, 2, 3)),
)
