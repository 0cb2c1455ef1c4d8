"""The zoo table: every family with its expression, order, error and speed against torch.

Each :class:`Family` builds, for a dtype, a prodint module, the reference it must equal (a
torch module with the same weights, a peer, or torch code written by hand) and inputs.
:func:`survey` measures the largest output difference in float64 and the forward-time ratio
(prodint / reference, medians, float32) and returns one row per family; ``prodint zoo``
prints them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.bench.harness import interleaved_ms
from prodint.zoo.gated import GLU, SwiGLU
from prodint.zoo.group_conv import GroupConv2d
from prodint.zoo.linear_attention import LinearAttention
from prodint.zoo.registry import from_torch

Built = tuple[nn.Module, Callable[..., Tensor], tuple[Tensor, ...]]


@dataclass(frozen=True)
class Family:
    """A zoo family: ``make(dtype) -> (prodint module, reference, inputs)``."""

    name: str
    reference_name: str
    make: Callable[[torch.dtype], Built]


@dataclass(frozen=True)
class FamilyRow:
    """``max_error``: largest difference to the reference over the native forward and the
    general (expression) path, float64; ``time_ratio``: forward time over the reference's."""

    name: str
    reference: str
    order: int
    max_error: float
    time_ratio: float
    expression: str


def _first(out: Tensor | tuple) -> Tensor:
    return out[0] if isinstance(out, tuple) else out


def _converted(module_fn: Callable[[], nn.Module], *shape: int) -> \
        Callable[[torch.dtype], Built]:
    def make(dtype: torch.dtype) -> Built:
        torch.manual_seed(0)
        module = module_fn().to(dtype).eval()
        layer = from_torch(module).eval()
        x = torch.randn(*shape, dtype=dtype)
        if isinstance(module, nn.MultiheadAttention):
            return (_Wrapped(layer, lambda t, g=False: (layer.general if g else layer)(
                t, t, t, need_weights=False)[0]),
                    lambda t: module(t, t, t, need_weights=False)[0], (x,))
        if isinstance(module, nn.TransformerEncoderLayer):
            return (_Wrapped(layer, lambda t, g=False: (layer.general if g else layer)(t)),
                    module, (x,))
        return layer, module, (x,)

    return make


class _Wrapped(nn.Module):
    """Calls ``fn(*inputs, general)`` and reports ``layer``'s expression."""

    def __init__(self, layer: nn.Module, fn: Callable[..., Tensor]) -> None:
        super().__init__()
        self.layer, self.fn = layer, fn
        self.expression = layer.expression  # type: ignore[assignment]

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.fn(*inputs)

    def general(self, *inputs: Tensor) -> Tensor:
        return self.fn(*inputs, True)


def _glu(dtype: torch.dtype) -> Built:
    torch.manual_seed(0)
    layer = GLU(64, 128).to(dtype)

    def ref(x: Tensor) -> Tensor:
        w = torch.cat([layer.param("W1"), layer.param("W2")])
        b = torch.cat([layer.param("b1"), layer.param("b2")])
        return F.glu(F.linear(x, w, b))

    return layer, ref, (torch.randn(16, 128, 64, dtype=dtype),)


def _swiglu(dtype: torch.dtype) -> Built:
    torch.manual_seed(0)
    layer = SwiGLU(64, 128, 64).to(dtype)

    def ref(x: Tensor) -> Tensor:
        h = F.silu(x @ layer.param("W1").T) * (x @ layer.param("W2").T)
        return h @ layer.param("W3").T

    return layer, ref, (torch.randn(16, 128, 64, dtype=dtype),)


def _linear_attention(dtype: torch.dtype) -> Built:
    torch.manual_seed(0)
    layer = LinearAttention(64, 4, causal=True).to(dtype)
    return layer, layer.reference, (torch.randn(4, 256, 64, dtype=dtype),)


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
    return from_torch(peer), peer, (torch.randn(4, 256, 64, dtype=dtype),)


def _group_conv(name: str) -> Callable[[torch.dtype], Built]:
    def make(dtype: torch.dtype) -> Built:
        torch.manual_seed(0)
        layer = GroupConv2d(name, 8, 8, 3, padding=1).to(dtype)
        size = 8 if name == "D4" else 4
        return layer, layer.reference, (torch.randn(4, 8, size, 24, 24, dtype=dtype),)

    return make


FAMILIES: list[Family] = [
    Family("dense", "nn.Linear", _converted(lambda: nn.Linear(256, 256), 64, 256)),
    Family("conv1d", "nn.Conv1d", _converted(lambda: nn.Conv1d(32, 32, 5, padding=2),
                                             8, 32, 256)),
    Family("conv2d", "nn.Conv2d", _converted(lambda: nn.Conv2d(16, 16, 3, padding=1),
                                             8, 16, 32, 32)),
    Family("conv3d", "nn.Conv3d", _converted(lambda: nn.Conv3d(4, 8, 3, padding=1),
                                             2, 4, 12, 12, 12)),
    Family("conv_transpose2d", "nn.ConvTranspose2d",
           _converted(lambda: nn.ConvTranspose2d(16, 8, 3, stride=2), 8, 16, 16, 16)),
    Family("GLU", "F.glu", _glu),
    Family("SwiGLU", "torch by hand", _swiglu),
    Family("bilinear", "nn.Bilinear", _converted(lambda: nn.Bilinear(32, 32, 32), 64, 32)),
    Family("multi-head attention", "nn.MultiheadAttention",
           _converted(lambda: nn.MultiheadAttention(64, 4, batch_first=True), 8, 128, 64)),
    Family("causal linear attention", "masked T×T product", _linear_attention),
    Family("Elman RNN", "nn.RNN", _converted(lambda: nn.RNN(64, 64, batch_first=True),
                                             8, 64, 64)),
    Family("GRU", "nn.GRU", _converted(lambda: nn.GRU(64, 64, batch_first=True), 8, 64, 64)),
    Family("LSTM", "nn.LSTM", _converted(lambda: nn.LSTM(64, 64, 2, batch_first=True),
                                         8, 64, 64)),
    Family("Clifford linear Cl(3,0)", "cliffordlayers",
           _converted(_cliffordlayers("linear"), 256, 32, 8)),
    Family("Clifford conv2d Cl(2,0)", "cliffordlayers",
           _converted(_cliffordlayers("conv2d"), 4, 8, 32, 32, 4)),
    Family("C4 group conv", "loop over the group", _group_conv("C4")),
    Family("D4 group conv", "loop over the group", _group_conv("D4")),
    Family("Mamba block", "mambapy", _mamba),
    Family("transformer encoder layer", "nn.TransformerEncoderLayer",
           _converted(lambda: nn.TransformerEncoderLayer(64, 4, 128, batch_first=True),
                      8, 128, 64)),
]


def _bilinear_inputs(family: Family) -> bool:
    return family.name == "bilinear"


def survey_family(family: Family, *, min_seconds: float = 0.05) -> FamilyRow:
    """Error (float64) and forward time ratio (float32) of one family."""
    layer, ref, inputs = family.make(torch.float64)
    if _bilinear_inputs(family):
        inputs = (inputs[0], inputs[0].flip(0))
    with torch.no_grad():
        expected = _first(ref(*inputs))
        paths = [layer, getattr(layer, "general", layer)]
        error = max(float((_first(p(*inputs)) - expected).abs().max()) for p in paths)
    layer32, ref32, inputs32 = family.make(torch.float32)
    if _bilinear_inputs(family):
        inputs32 = (inputs32[0], inputs32[0].flip(0))
    with torch.no_grad():
        ours, theirs = interleaved_ms([lambda: layer32(*inputs32), lambda: ref32(*inputs32)],
                                      rounds=2, min_seconds=min_seconds)
    expression = layer.expression  # type: ignore[union-attr]
    return FamilyRow(family.name, family.reference_name, expression.self_interaction_order,
                     error, ours / theirs, str(expression))


def survey(families: list[Family] | None = None, *, min_seconds: float = 0.05,
           progress: Callable[[str], None] | None = None) -> list[FamilyRow]:
    """One row per family (see module doc)."""
    rows = []
    for family in families if families is not None else FAMILIES:
        if progress is not None:
            progress(family.name)
        rows.append(survey_family(family, min_seconds=min_seconds))
    return rows
