"""Every zoo family beside its counterpart outside prodint, on the same weights.

A :class:`Pair` builds, for a dtype, a prodint module, the counterpart it must equal (the
torch module it was converted from, a peer library's layer, or torch code written by hand
from the layer's own parameters) and the inputs of both. The zoo suite
(:mod:`prodint.bench.zoo_suite`) times the two against each other; the zoo survey
(:mod:`prodint.surveys.zoo`) checks the layer's ``forward``, ``general`` and ``reference``
against the counterpart.

The counterpart is always independent of the layer's expression: for the group convolutions
it is the layer's ``oracle`` (one plain convolution per group element), for linear attention
the causal ``T × T`` product written out here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.zoo.gated import GLU, SwiGLU
from prodint.zoo.group_conv import GroupConv2d
from prodint.zoo.linear_attention import LinearAttention
from prodint.zoo.registry import from_torch

__all__ = ["PAIRS", "Built", "Pair"]


@dataclass(frozen=True)
class Built:
    """One pair built in one dtype.

    Attributes:
        layer: the prodint module; ``layer(*inputs, **options)``,
            ``layer.general(*inputs, **options)`` and ``layer.reference(*inputs, **options)``
            are its three executions.
        counterpart: ``counterpart(*inputs, **options)`` returns what the layer returns.
        inputs: the positional inputs of both (tensors, each ``requires_grad=False``).
        options: keyword arguments of every call (e.g. ``need_weights=False``).
    """

    layer: nn.Module
    counterpart: Callable[..., Any]
    inputs: tuple[Tensor, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pair:
    """A zoo family and its counterpart: ``make(dtype) -> Built``, seeded (the same weights
    and inputs in every dtype)."""

    name: str
    counterpart_name: str
    make: Callable[[torch.dtype], Built]


def _converted(module_fn: Callable[[], nn.Module], *shape: int, inputs: int = 1
               ) -> Callable[[torch.dtype], Built]:
    """A torch module and its conversion, called on ``inputs`` random tensors of ``shape``."""

    def make(dtype: torch.dtype) -> Built:
        torch.manual_seed(0)
        module = module_fn().to(dtype).eval()
        layer = from_torch(module).eval()
        xs = tuple(torch.randn(*shape, dtype=dtype) for _ in range(inputs))
        return Built(layer, module, xs)

    return make


def _attention(dtype: torch.dtype) -> Built:
    torch.manual_seed(0)
    module = nn.MultiheadAttention(64, 4, batch_first=True).to(dtype).eval()
    xs = tuple(torch.randn(8, 128, 64, dtype=dtype) for _ in range(3))
    return Built(from_torch(module).eval(), module, xs, {"need_weights": False})


def _glu(dtype: torch.dtype) -> Built:
    torch.manual_seed(0)
    layer = GLU(64, 128).to(dtype)

    def by_hand(x: Tensor) -> Tensor:
        w = torch.cat([layer.param("W1"), layer.param("W2")])
        b = torch.cat([layer.param("b1"), layer.param("b2")])
        return F.glu(F.linear(x, w, b))

    return Built(layer, by_hand, (torch.randn(16, 128, 64, dtype=dtype),))


def _swiglu(dtype: torch.dtype) -> Built:
    torch.manual_seed(0)
    layer = SwiGLU(64, 128, 64).to(dtype)

    def by_hand(x: Tensor) -> Tensor:
        h = F.silu(x @ layer.param("W1").T) * (x @ layer.param("W2").T)
        return h @ layer.param("W3").T

    return Built(layer, by_hand, (torch.randn(16, 128, 64, dtype=dtype),))


def _linear_attention(dtype: torch.dtype) -> Built:
    torch.manual_seed(0)
    width, heads = 64, 4
    layer = LinearAttention(width, heads, causal=True).to(dtype)

    def masked_product(x: Tensor) -> Tensor:
        """``Σ_{s≤t} (q_t·k_s) v_s`` per head through the full ``T × T`` score matrix."""
        b, t, _ = x.shape

        def heads_of(name: str) -> Tensor:
            return F.linear(x, layer.param(name)).view(b, t, heads, -1).transpose(1, 2)

        q, k, v = heads_of("Wq"), heads_of("Wk"), heads_of("Wv")
        mixed = (q @ k.transpose(-1, -2)).tril() @ v
        return F.linear(mixed.transpose(1, 2).reshape(b, t, width), layer.param("Wo"))

    return Built(layer, masked_product, (torch.randn(4, 256, width, dtype=dtype),))


def _cliffordlayers(kind: str) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        if kind == "linear":
            from cliffordlayers.nn.modules.cliffordlinear import CliffordLinear

            return CliffordLinear((1, 1, 1), 32, 32)
        from cliffordlayers.nn.modules.cliffordconv import CliffordConv2d

        return CliffordConv2d((1, 1), 8, 8, kernel_size=3, padding=1)

    return make


def _mamba(dtype: torch.dtype) -> Built:
    from mambapy.mamba import MambaBlock as PeerBlock
    from mambapy.mamba import MambaConfig

    torch.manual_seed(0)
    peer = PeerBlock(MambaConfig(d_model=64, n_layers=1, d_state=16)).to(dtype)
    return Built(from_torch(peer), peer, (torch.randn(4, 256, 64, dtype=dtype),))


def _group_conv(name: str) -> Callable[[torch.dtype], Built]:
    def make(dtype: torch.dtype) -> Built:
        torch.manual_seed(0)
        layer = GroupConv2d(name, 8, 8, 3, padding=1).to(dtype)
        size = 8 if name == "D4" else 4

        def loop(x: Tensor) -> Tensor:
            return layer.oracle(x)

        return Built(layer, loop, (torch.randn(4, 8, size, 24, 24, dtype=dtype),))

    return make


PAIRS: tuple[Pair, ...] = (
    Pair("dense", "nn.Linear", _converted(lambda: nn.Linear(256, 256), 64, 256)),
    Pair("conv1d", "nn.Conv1d", _converted(lambda: nn.Conv1d(32, 32, 5, padding=2),
                                           8, 32, 256)),
    Pair("conv2d", "nn.Conv2d", _converted(lambda: nn.Conv2d(16, 16, 3, padding=1),
                                           8, 16, 32, 32)),
    Pair("conv3d", "nn.Conv3d", _converted(lambda: nn.Conv3d(4, 8, 3, padding=1),
                                           2, 4, 12, 12, 12)),
    Pair("conv_transpose2d", "nn.ConvTranspose2d",
         _converted(lambda: nn.ConvTranspose2d(16, 8, 3, stride=2), 8, 16, 16, 16)),
    Pair("GLU", "F.glu", _glu),
    Pair("SwiGLU", "torch by hand", _swiglu),
    Pair("bilinear", "nn.Bilinear", _converted(lambda: nn.Bilinear(32, 32, 32), 64, 32,
                                               inputs=2)),
    Pair("multi-head attention", "nn.MultiheadAttention", _attention),
    Pair("causal linear attention", "masked T×T product", _linear_attention),
    Pair("Elman RNN", "nn.RNN", _converted(lambda: nn.RNN(64, 64, batch_first=True),
                                           8, 64, 64)),
    Pair("GRU", "nn.GRU", _converted(lambda: nn.GRU(64, 64, batch_first=True), 8, 64, 64)),
    Pair("LSTM", "nn.LSTM", _converted(lambda: nn.LSTM(64, 64, 2, batch_first=True),
                                       8, 64, 64)),
    Pair("Clifford linear Cl(3,0)", "cliffordlayers",
         _converted(_cliffordlayers("linear"), 256, 32, 8)),
    Pair("Clifford conv2d Cl(2,0)", "cliffordlayers",
         _converted(_cliffordlayers("conv2d"), 4, 8, 32, 32, 4)),
    Pair("C4 group conv", "loop over the group", _group_conv("C4")),
    Pair("D4 group conv", "loop over the group", _group_conv("D4")),
    Pair("Mamba block", "mambapy", _mamba),
    Pair("transformer encoder layer", "nn.TransformerEncoderLayer",
         _converted(lambda: nn.TransformerEncoderLayer(64, 4, 128, batch_first=True),
                    8, 128, 64)),
)
