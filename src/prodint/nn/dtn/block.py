"""The DTN block: a pre-norm residual block, tensor attention for tokens, a channel mixer.

``z = x + TA(conv(LN₁ x))``, ``y = z + mix(LN₂ z)`` with ``TA`` the
:class:`~prodint.nn.dtn.attention.TensorAttention`, ``conv`` the short causal convolution
(:class:`~prodint.nn.dtn.parts.ShortConv`, kernel ``local_conv``; ``0`` leaves it out) and
``mix`` a GELU :class:`~prodint.nn.dtn.parts.MLP` (``channel_mixer="mlp"``) or the
:class:`~prodint.nn.dtn.interaction.TensorInteraction` (``"tensor_interaction"``).

The block's expression is this whole composition (:class:`~prodint.interaction.composite.
CompositeLayer`), so its order is derived: the norms, the residual sums and the convolution
keep the order, tensor attention multiplies it by 5 (``ord(TA(u)) = 5·ord(u)``: ``q, k, v``
are linear in ``u``), so ``z`` has order 5; the MLP keeps it (``y``: 5) and tensor
interaction multiplies it by 5 again (``y``: 25).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor

from prodint.checks import check_choice, check_layer_options
from prodint.interaction import Expr, Signal, Sum
from prodint.interaction.composite import CompositeLayer
from prodint.interaction.layer import InteractionLayer
from prodint.nn.dtn.attention import TensorAttention
from prodint.nn.dtn.checks import (
    check_block_sizes,
    check_state_batch,
)
from prodint.nn.dtn.decode import DTNBlockDecoder
from prodint.nn.dtn.heads import TokenLayer
from prodint.nn.dtn.interaction import TensorInteraction
from prodint.nn.dtn.parts import MLP, LayerNorm, ShortConv
from prodint.ops.tensor_attention import TensorAttentionState
from prodint.ops.tensor_interaction import TensorInteractionState

__all__ = ["CHANNEL_MIXERS", "DTNBlock", "DTNBlockState"]

CHANNEL_MIXERS = ("mlp", "tensor_interaction")


class DTNBlockState(NamedTuple):
    """Streaming state of a :class:`DTNBlock`.

    Attributes:
        attention: the tensor attention's state.
        mixer: the tensor interaction's state (``None`` for the MLP, which has none).
        conv: the last ``local_conv − 1`` inputs of the convolution ``[B, k − 1, width]``
            (``None`` without one).
    """

    attention: TensorAttentionState
    mixer: TensorInteractionState | None
    conv: Tensor | None


def _block_expression(x: Expr, parts: Mapping[str, InteractionLayer], prefix: str) -> Expr:
    def part(key: str, u: Expr) -> Expr:
        return parts[key].expression_on(u, f"{prefix}{key}_")  # type: ignore[attr-defined]

    u = part("norm1", x)
    if "local" in parts:
        u = part("local", u)
    z = Sum(x, part("attention", u))
    return Sum(z, part("mixer", part("norm2", z)))


class DTNBlock(CompositeLayer, TokenLayer):
    """Pre-norm DTN block on ``[B, T, width]`` (module doc); order 5 with the MLP, 25 with
    tensor interaction.

    Args:
        width, heads: model width and number of heads.
        channel_mixer: ``"mlp"`` or ``"tensor_interaction"``.
        hidden: the MLP's hidden width (default ``4·width``).
        normalize, decay, output_norm: the tensor attention's options
            (:class:`~prodint.nn.dtn.attention.TensorAttention`).
        local_conv: kernel of the short convolution (``0``: none).
        chunk_size: chunk length of the chunked kernels.
        device, dtype, generator: passed to every part.

    Raises:
        TypeError: a size that is not an int, a flag that is not a bool, an option of the
            wrong kind (as the parts raise it).
        ValueError: a size below 1 (``local_conv`` below 0), an unknown ``channel_mixer``,
            parameters that would not fit in memory, or a part's option out of range.

    The parts are :attr:`norm1`, :attr:`local` (or ``None``), :attr:`attention`,
    :attr:`norm2` and :attr:`mixer`; each keeps its parameters (``attention.params.Wq`` …)
    and its own initialisation. ``general`` and ``reference`` run the whole block's
    expression (:class:`~prodint.nn.dtn.heads.TokenLayer`).
    """

    def __init__(self, width: int, heads: int, *, channel_mixer: str = "mlp",
                 hidden: int | None = None, normalize: bool = False,
                 decay: float | None = None, local_conv: int = 4, chunk_size: int = 64,
                 output_norm: bool = True, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_layer_options(device, dtype, generator)
        check_choice(channel_mixer, "channel_mixer", CHANNEL_MIXERS)
        check_block_sizes(width, heads, hidden, local_conv, dtype)
        kw = {"device": device, "dtype": dtype, "generator": generator}
        attention = TensorAttention(width, heads, normalize=normalize, decay=decay,
                                    chunk_size=chunk_size, output_norm=output_norm, **kw)
        mixer: InteractionLayer = MLP(width, hidden or 4 * width, **kw) \
            if channel_mixer == "mlp" else \
            TensorInteraction(width, heads, chunk_size=chunk_size, **kw)
        local = ShortConv(width, local_conv, **kw) if local_conv else None
        parts: dict[str, InteractionLayer] = {"norm1": LayerNorm(width, **kw)}
        if local is not None:
            parts["local"] = local
        parts |= {"attention": attention, "norm2": LayerNorm(width, **kw), "mixer": mixer}
        super().__init__(Signal("X", [("t", None), ("m", width)]), _block_expression, parts,
                         device=device, dtype=dtype, generator=generator)
        self.width, self.channel_mixer = width, channel_mixer
        self.norm1, self.local, self.attention = parts["norm1"], local, attention
        self.norm2, self.mixer = parts["norm2"], mixer

    def _mix(self, z: Tensor, mode: str) -> Tensor:
        return self.mixer(z) if isinstance(self.mixer, MLP) else self.mixer(z, mode=mode)

    def forward(self, x: Tensor, *, mode: str = "chunk") -> Tensor:
        """``[B, T, width] → [B, T, width]``; ``mode`` selects the kernels of the tensor
        attention and the tensor interaction (``"naive"``, ``"chunk"``, ``"recurrent"``)."""
        u = self.norm1(self._tokens(x, 3))
        if self.local is not None:
            u = self.local(u)
        z = x + self.attention(u, mode=mode)
        return z + self._mix(self.norm2(z), mode)

    def oracle(self, x: Tensor) -> Tensor:
        """:meth:`forward` with the operators' naive forms."""
        return self(x, mode="naive")

    def prefill(self, x: Tensor) -> tuple[Tensor, DTNBlockState]:
        """:meth:`forward` (chunked) and the state after the last token, for :meth:`step`."""
        u, conv = self.norm1(self._tokens(x, 3)), None
        if self.local is not None:
            u, conv = self.local.prefill(u)
        a, attention = self.attention.prefill(u)
        z = x + a
        if isinstance(self.mixer, TensorInteraction):
            m, mixer = self.mixer.prefill(self.norm2(z))
        else:
            m, mixer = self.mixer(self.norm2(z)), None
        return z + m, DTNBlockState(attention, mixer, conv)

    def step(self, x: Tensor, state: DTNBlockState | None = None
             ) -> tuple[Tensor, DTNBlockState]:
        """One token ``[B, width]`` with the carried state (``None`` before the first)."""
        x = self._tokens(x, 2)
        if state is not None and not isinstance(state, DTNBlockState):
            raise TypeError(f"state: expected a DTNBlockState or None, received "
                            f"{type(state).__name__}")
        check_state_batch(state, x.shape[0], "x_t")
        attention, mixer, conv = state if state is not None else (None, None, None)
        u = self.norm1(x)
        if self.local is not None:
            u, conv = self.local.step(u, conv)
        a, attention = self.attention.step(u, attention)
        z = x + a
        if isinstance(self.mixer, TensorInteraction):
            m, mixer = self.mixer.step(self.norm2(z), mixer)
        else:
            m = self.mixer(self.norm2(z))
        return z + m, DTNBlockState(attention, mixer, conv)

    def decoder(self, state: DTNBlockState) -> DTNBlockDecoder:
        """A :class:`~prodint.nn.dtn.decode.DTNBlockDecoder` continuing from ``state``: the
        same tokens as :meth:`step`, the state checked once instead of on every token.

        Raises:
            TypeError, ValueError: as :class:`~prodint.nn.dtn.decode.DTNBlockDecoder`.
        """
        return DTNBlockDecoder(self, state)
