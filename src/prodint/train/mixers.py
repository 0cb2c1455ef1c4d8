"""Sequence mixers built from prodint's layers: every one maps ``[B, T, width] -> [B, T, width]``.

:data:`MIXERS` maps a name to ``build(width, *, causal, generator, dtype) -> nn.Module``. Each
registered kind of layer family is reachable:

- channel mixers (each position on its own, so causal by construction): ``dense``
  (:class:`~prodint.zoo.Dense`, ``y = x Wᵀ + b``), ``glu`` (``(x W1ᵀ + b1) ⊙ σ(x W2ᵀ + b2)``),
  ``swiglu``, ``bilinear`` (``y_o = Σ_ij x_i A_oij x_j + b_o``), ``quaternion``
  (:class:`~prodint.nn.ProductLinear` over ℍ on ``width/4`` quaternions), ``clifford``
  (:class:`~prodint.zoo.CliffordLinear` over Cl(1,1) on ``width/4`` multivectors),
  ``group_conv`` (a ``1×1`` C4 group convolution on ``width/4`` regular C4 fields),
  ``irreps_linear`` and ``tensor_product`` (the O(3)-equivariant
  :class:`~prodint.symmetry.linear.Linear` and the self tensor product ``x ⊗ x`` on
  ``k×0e + (width/4)×1o``), ``learned_bilinear`` (``(x W1) ·_A (x W2)`` over structure
  constants learned under C_width);
- convolutions over time (kernel 3; causal ones pad 2 steps on the left, others one on each
  side): ``conv`` (:class:`~prodint.zoo.ConvNd`), ``clifford_conv``
  (:class:`~prodint.zoo.CliffordConv1d`), ``harmonic_conv``
  (:class:`~prodint.symmetry.harmonic_conv.HarmonicConv2d` on the ``T × 1`` grid, with
  SO(2) fields ``(width/2)×0 + (width/4)×1``) and ``circular_conv`` (circular padding, which
  wraps the end of the sequence into its start: it has no causal form);
- attention: ``softmax_attention`` (:class:`~prodint.zoo.MultiheadAttention`, a boolean causal
  mask when causal), ``transformer_encoder`` (a pre-norm
  :class:`~prodint.zoo.TransformerEncoderLayer`), ``linear_attention``, ``tensor_attention``,
  ``tensor_interaction`` and the always causal ``causal_self_attention``, ``softmax_block``,
  ``dtn_block``;
- recurrences (causal): ``mamba``, ``elman``, ``gru``, ``lstm`` (batch first; the output
  sequence of the hidden states, of size ``width``);
- the expression library compiled (:func:`prodint.interaction.compile`): ``expr_dense``,
  ``expr_conv``, ``expr_glu``, ``expr_bilinear`` (in the group algebra ``R[C_width]``),
  ``expr_linear_attention``, ``expr_softmax_attention``, ``expr_multihead_attention``,
  ``expr_tensor_attention``, ``expr_tensor_interaction`` (one head of dimension ``width``
  where the expression has no heads) and ``linear_recurrence``
  (``h_t = a ⊙ h_{t-1} + x_t W``).

Attention-like mixers use 2 heads when ``width`` is even, else 1. A mixer without a causal
form refuses ``causal=True`` (``ValueError`` naming ``mixer``); the quaternion, Clifford,
C4 and SO(2) mixers need ``width`` a multiple of 4 (``ValueError`` naming ``width``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.algebra import LearnedAlgebra, group_algebra, quaternions
from prodint.checks import (
    check_bool,
    check_dtype,
    check_generator,
    check_int,
    check_parameter_memory,
)
from prodint.groups import cyclic, regular
from prodint.interaction import compile, library
from prodint.interaction.learned import inline_learned
from prodint.nn.dtn import DTNBlock, TensorAttention, TensorInteraction
from prodint.nn.product_linear import ProductLinear
from prodint.nn.softmax_lm import CausalSelfAttention, SoftmaxBlock
from prodint.symmetry.harmonic_conv import HarmonicConv2d
from prodint.symmetry.linear import Linear
from prodint.symmetry.tensor_product import TensorProduct
from prodint.zoo import (
    GLU,
    GRU,
    LSTM,
    Bilinear,
    CliffordConv1d,
    CliffordLinear,
    ConvNd,
    Dense,
    ElmanRNN,
    GroupConv2d,
    LinearAttention,
    MambaBlock,
    MultiheadAttention,
    SwiGLU,
    TransformerEncoderLayer,
)

__all__ = ["MIXERS", "Builder"]

Builder = Callable[..., nn.Module]
KERNEL = 3
DTYPES = (torch.float32, torch.float64)


def causal_mask(length: int, device: torch.device) -> Tensor:
    """The boolean ``[T, T]`` mask that hides every later position (``True`` = hidden)."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


class Recurrent(nn.Module):
    """A batch-first recurrent stack returning its output sequence ``[B, T, hidden]``."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: Tensor) -> Tensor:
        return self.rnn(x)[0]


class SelfAttention(nn.Module):
    """``attention(x, x, x)`` on ``[B, T, C]``, causal by a boolean mask when ``causal``."""

    def __init__(self, attention: nn.Module, causal: bool) -> None:
        super().__init__()
        self.attention, self.causal = attention, causal

    def forward(self, x: Tensor) -> Tensor:
        mask = causal_mask(x.shape[1], x.device) if self.causal else None
        return self.attention(x, x, x, attn_mask=mask, need_weights=False)[0]


class Encoder(nn.Module):
    """A transformer encoder layer on ``[B, T, C]``, causal by ``src_mask`` when ``causal``."""

    def __init__(self, layer: nn.Module, causal: bool) -> None:
        super().__init__()
        self.layer, self.causal = layer, causal

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x, src_mask=causal_mask(x.shape[1], x.device) if self.causal else None)


class TimeConv(nn.Module):
    """A convolution over time on ``[B, T, C]``: the time axis padded ``(left, right)`` with
    zeros, then ``conv`` in its own layout: ``"tc"`` ``[B, T, C]``, ``"ct"`` ``[B, C, T]``,
    ``"blades"`` ``[B, C/b, T, b]`` (``b`` blades), ``"grid"`` ``[B, C, T, 1]`` (the one-wide
    second axis padded by ``(KERNEL - 1)/2`` on each side)."""

    def __init__(self, conv: nn.Module, layout: str, left: int, right: int,
                 blades: int = 1) -> None:
        super().__init__()
        self.conv, self.layout, self.pad, self.blades = conv, layout, (left, right), blades

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        if self.layout == "tc":
            return self.conv(F.pad(x, (0, 0, *self.pad)))
        if self.layout == "ct":
            return self.conv(F.pad(x.transpose(1, 2), self.pad)).transpose(1, 2)
        if self.layout == "blades":
            y = x.reshape(b, t, c // self.blades, self.blades).transpose(1, 2)
            y = self.conv(F.pad(y, (0, 0, *self.pad)))
            return y.transpose(1, 2).reshape(b, t, -1)
        side = (KERNEL - 1) // 2
        y = self.conv(F.pad(x.transpose(1, 2)[..., None], (side, side, *self.pad)))
        return y[..., 0].transpose(1, 2)


class Split(nn.Module):
    """``layer`` on the last axis split as ``shape`` (``[B, T, C] -> [B, T, *shape]``), its
    output flattened back; with ``merge``, the batch and time axes merged and trailing
    singleton grid axes added (``[B·T, *shape, 1, 1]``, a 2-d layer on a ``1 × 1`` grid)."""

    def __init__(self, layer: nn.Module, shape: tuple[int, ...], merge: bool = False) -> None:
        super().__init__()
        self.layer, self.shape, self.merge = layer, shape, merge

    def forward(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        if self.merge:
            return self.layer(x.reshape(b * t, *self.shape, 1, 1)).reshape(b, t, -1)
        return self.layer(x.reshape(b, t, *self.shape)).reshape(b, t, -1)


class Paired(nn.Module):
    """A two-input layer applied to the same input twice: ``layer(x, x)``."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x, x)


def _heads(width: int) -> int:
    return 2 if width % 2 == 0 else 1


def _quarter(width: int, name: str) -> int:
    if width % 4:
        raise ValueError(f"width: expected a multiple of 4 for mixer {name!r}, received "
                         f"{width}")
    return width // 4


def _padding(causal: bool) -> tuple[int, int]:
    return (KERNEL - 1, 0) if causal else ((KERNEL - 1) // 2, (KERNEL - 1) // 2)


def _irreps(width: int) -> str:
    vectors = width // 4
    return f"{width - 3 * vectors}x0e + {vectors}x1o" if vectors else f"{width}x0e"


def _circular_conv(w: int, causal: bool, **o: object) -> nn.Module:
    if causal:
        raise ValueError("mixer: expected a mixer with a causal form for causal=True, "
                         "received 'circular_conv' (circular padding wraps the end of the "
                         "sequence into its start)")
    conv = ConvNd(1, w, w, KERNEL, padding=(KERNEL - 1) // 2, padding_mode="circular", **o)
    return TimeConv(conv, "ct", 0, 0)


def _learned_bilinear(w: int, causal: bool, **o: object) -> nn.Module:
    algebra = LearnedAlgebra(w, symmetry=regular(cyclic(w)), mode="constrained")
    return compile(inline_learned(library.bilinear(w, algebra)), **o)


def _harmonic(w: int, causal: bool, **o: object) -> nn.Module:
    q = _quarter(w, "harmonic_conv")
    fields = f"{w - 2 * q}x0 + {q}x1"
    conv = HarmonicConv2d(fields, fields, kernel_size=KERNEL, padding=0, **o)
    return TimeConv(conv, "grid", *_padding(causal))


def _irreps_layer(w: int, pair: bool, **o: object) -> nn.Module:
    irreps = _irreps(w)
    return Paired(TensorProduct(irreps, irreps, irreps, **o)) if pair else \
        Linear(irreps, irreps, **o)


_BUILDS: dict[str, Callable[..., nn.Module]] = {
    "dense": lambda w, c, **o: Dense(w, w, **o),
    "glu": lambda w, c, **o: GLU(w, w, **o),
    "swiglu": lambda w, c, **o: SwiGLU(w, 2 * w, w, **o),
    "bilinear": lambda w, c, **o: Paired(Bilinear(w, w, w, **o)),
    "quaternion": lambda w, c, **o: Split(
        ProductLinear(quaternions().to(o["dtype"]), _quarter(w, "quaternion"), w // 4, **o),
        (w // 4, 4)),
    "clifford": lambda w, c, **o: Split(
        CliffordLinear((1, 1), _quarter(w, "clifford"), w // 4, **o), (w // 4, 4)),
    "group_conv": lambda w, c, **o: Split(
        GroupConv2d("C4", _quarter(w, "group_conv"), w // 4, 1, **o), (w // 4, 4), True),
    "irreps_linear": lambda w, c, **o: _irreps_layer(w, False, **o),
    "tensor_product": lambda w, c, **o: _irreps_layer(w, True, **o),
    "learned_bilinear": _learned_bilinear,
    "conv": lambda w, c, **o: TimeConv(ConvNd(1, w, w, KERNEL, **o), "ct", *_padding(c)),
    "clifford_conv": lambda w, c, **o: TimeConv(
        CliffordConv1d((1, 1), _quarter(w, "clifford_conv"), w // 4, KERNEL, **o), "blades",
        *_padding(c), blades=4),
    "harmonic_conv": _harmonic,
    "circular_conv": _circular_conv,
    "softmax_attention": lambda w, c, **o: SelfAttention(
        MultiheadAttention(w, _heads(w), batch_first=True, **o), c),
    "transformer_encoder": lambda w, c, **o: Encoder(
        TransformerEncoderLayer(w, _heads(w), 2 * w, batch_first=True, norm_first=True, **o),
        c),
    "linear_attention": lambda w, c, **o: LinearAttention(w, _heads(w), causal=c, **o),
    "tensor_attention": lambda w, c, **o: TensorAttention(w, _heads(w), causal=c, **o),
    "tensor_interaction": lambda w, c, **o: TensorInteraction(w, _heads(w), causal=c, **o),
    "causal_self_attention": lambda w, c, **o: CausalSelfAttention(w, _heads(w), **o),
    "softmax_block": lambda w, c, **o: SoftmaxBlock(w, _heads(w), **o),
    "dtn_block": lambda w, c, **o: DTNBlock(w, _heads(w), **o),
    "mamba": lambda w, c, **o: MambaBlock(w, d_state=8, mode="recurrent", **o),
    "elman": lambda w, c, **o: Recurrent(ElmanRNN(w, w, batch_first=True, **o)),
    "gru": lambda w, c, **o: Recurrent(GRU(w, w, batch_first=True, **o)),
    "lstm": lambda w, c, **o: Recurrent(LSTM(w, w, batch_first=True, **o)),
    "expr_dense": lambda w, c, **o: compile(library.dense(w, w), **o),
    "expr_conv": lambda w, c, **o: TimeConv(compile(library.conv1d(w, w, KERNEL), **o), "tc",
                                            *_padding(c)),
    "expr_glu": lambda w, c, **o: compile(library.glu(w, w), **o),
    "expr_bilinear": lambda w, c, **o: compile(
        library.bilinear(w, group_algebra(cyclic(w)).to(o["dtype"])), **o),
    "expr_linear_attention": lambda w, c, **o: compile(
        library.linear_attention(w, w, w, causal=c), **o),
    "expr_softmax_attention": lambda w, c, **o: compile(
        library.softmax_attention(w, w, w, causal=c), **o),
    "expr_multihead_attention": lambda w, c, **o: compile(
        library.multihead_attention(w, _heads(w), causal=c), **o),
    "expr_tensor_attention": lambda w, c, **o: compile(
        library.tensor_attention(w, w, w, causal=c), **o),
    "expr_tensor_interaction": lambda w, c, **o: compile(
        library.tensor_interaction(w, w, causal=c), **o),
    "linear_recurrence": lambda w, c, **o: compile(library.linear_recurrence(w, w), **o),
}


CUBIC = frozenset({"bilinear", "learned_bilinear", "expr_bilinear", "tensor_product"})


def estimate_parameters(name: str, width: int) -> int:
    """A bound on the parameter and table count of the mixer ``name`` (``16·width²``, plus
    ``width³`` for the mixers with a bilinear form or structure constants), for the memory
    check made before building."""
    return 16 * width * width + (width ** 3 if name in CUBIC else 0)


def _builder(name: str) -> Builder:
    make = _BUILDS[name]

    def build(width: int, *, causal: bool, generator: torch.Generator | None,
              dtype: torch.dtype) -> nn.Module:
        check_int(width, "width", minimum=1)
        check_bool(causal, "causal")
        check_generator(generator)
        check_dtype(dtype, dtypes=DTYPES, optional=False)
        check_parameter_memory(estimate_parameters(name, width), "width", dtype)
        return make(width, causal, generator=generator, dtype=dtype)

    build.__name__ = build.__qualname__ = f"build_{name}"
    build.__doc__ = f"The {name!r} mixer ``[B, T, width] -> [B, T, width]`` (module doc)."
    return build


MIXERS: dict[str, Builder] = {name: _builder(name) for name in _BUILDS}
