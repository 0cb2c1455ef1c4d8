"""Deep Tensor Network modules: tensor attention layer, DTN block, DTN language model.

:class:`TensorAttention` mixes tokens with second-order tensor attention
(:func:`prodint.ops.tensor_attention`): ``Q = X Wq``, ``K = X Wk``, ``V = X Wv`` split into
heads, ``o_t = Σ_{i ≤ j ≤ t} (q_t·k_i)(q_j·k_i) v_j`` per head, merged and projected by ``Wo``
(order 5). It trains with the chunked form and streams with :meth:`TensorAttention.step`,
whose state has constant size. :class:`DTNBlock` is a pre-norm residual block (tensor
attention for tokens, then tensor interaction or an MLP for channels); :class:`DTN` stacks
blocks into a character-level language model with streaming generation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.interaction import (
    CausalMask,
    Contract,
    Expr,
    MergeAxes,
    Parameter,
    Permute,
    Pointwise,
    Rename,
    Signal,
    SplitAxis,
    compile,
)
from prodint.nn.local_conv import CausalConv
from prodint.nn.stacked_lm import StackedLM
from prodint.ops.tensor_attention import TensorAttentionState, tensor_attention
from prodint.ops.tensor_interaction import tensor_interaction


def tensor_attention_expression(width: int, heads: int, output_norm: bool = False) -> Expr:
    """``Wo · merge_h Σ_j mask_{j≤t}(Σ_i A_{ti} mask_{i≤j}(A_{ji})) V_j`` with ``A = Q Kᵀ``;
    with ``output_norm`` each head's output is RMS-normalised before ``Wo``."""
    d = width // heads
    x = Signal("X", [("t", None), ("m", width)])

    def heads_of(name: str, axis: str, position: str) -> Expr:
        w = Parameter(name, [("m", width), ("p", width)])
        y = SplitAxis(Contract(x, w, over="m"), "p", [("h", heads), (axis, d)])
        return Rename(y, {"t": position}) if position != "t" else y

    q, k = heads_of("Wq", "d", "t"), heads_of("Wk", "d", "i")
    qj, v = heads_of("Wq", "d", "j"), heads_of("Wv", "e", "j")
    a = Contract(q, k, over="d")  # [t, h, i]
    b = CausalMask(Contract(qj, k, over="d"), "j", "i")  # [j, h, i], i ≤ j
    m = CausalMask(Contract(a, b, over="i"), "t", "j")  # [t, h, j], j ≤ t
    o = Contract(m, v, over="j")  # [t, h, e]
    if output_norm:
        o = Pointwise("rmsnorm", o, "e")
    o = MergeAxes(Permute(o, ("t", "h", "e")), ["h", "e"], "p")
    return Rename(Contract(o, Parameter("Wo", [("p", width), ("o", width)]), over="p"),
                  {"o": "m"})


class TensorAttention(nn.Module):
    """Multi-head causal tensor attention on ``[B, T, width]`` (order 5).

    Args:
        width: model width, split into ``heads`` heads of ``width / heads``.
        heads: number of heads.
        normalize, decay: passed to :func:`~prodint.ops.tensor_attention`.
        chunk_size: chunk length of the training form.
        output_norm: RMS-normalise each head's output over its channels,
            ``o ↦ o / sqrt(mean(o²) + 1e-6)``, before ``Wo`` (no parameters). The raw
            output grows like the square of the context (a double sum over ``i ≤ j ≤ t``)
            and the operator's own normaliser ``q_tᵀ(S_t m_t − h_t)`` can cross zero, so
            the normalised output is the stable choice for training; it keeps the layer
            scale-free in the position, as group norms do for linear attention.
    """

    def __init__(self, width: int, heads: int, *, normalize: bool = False,
                 decay: float | None = None, chunk_size: int = 64,
                 output_norm: bool = True) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"heads: expected a divisor of width={width}, received {heads}")
        self.width, self.heads, self.head_dim = width, heads, width // heads
        self.normalize, self.decay, self.chunk_size = normalize, decay, chunk_size
        self.output_norm = output_norm
        self.expression = tensor_attention_expression(width, heads, output_norm)
        self.interaction = compile(self.expression)
        # q·k products enter squared: a smaller query/key scale keeps activations in range
        with torch.no_grad():
            for name in ("Wq", "Wk"):
                self.interaction.params[name].mul_(1.0 / math.sqrt(self.head_dim))

    @property
    def self_interaction_order(self) -> int:
        return self.expression.self_interaction_order

    def _heads(self, x: Tensor, name: str) -> Tensor:
        return (x @ self.interaction.params[name]).unflatten(-1, (self.heads, self.head_dim))

    def _output(self, o: Tensor) -> Tensor:
        """Heads ``[B, T, H, Dv]`` → ``[B, T, width]``: optional RMS norm, merge, ``Wo``."""
        if self.output_norm:
            o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-6)
        return o.flatten(-2) @ self.interaction.params["Wo"]

    def _check(self, x: Tensor, rank: int) -> None:
        shape = "[B, T, width]" if rank == 3 else "[B, width]"
        if x.dim() != rank or x.shape[-1] != self.width:
            raise ValueError(f"x: expected {shape} with width {self.width}, received "
                             f"{tuple(x.shape)}")

    def forward(self, x: Tensor, *, mode: str = "chunk") -> Tensor:
        """``[B, T, width] → [B, T, width]``; ``mode`` as in ``tensor_attention``."""
        self._check(x, 3)
        q, k, v = (self._heads(x, n) for n in ("Wq", "Wk", "Wv"))
        o, _ = tensor_attention(q, k, v, mode=mode, chunk_size=self.chunk_size,
                                normalize=self.normalize, decay=self.decay)
        return self._output(o)

    def prefill(self, x: Tensor) -> tuple[Tensor, TensorAttentionState]:
        """:meth:`forward` (chunked) that also returns the state after the last token, from
        which :meth:`step` continues."""
        self._check(x, 3)
        q, k, v = (self._heads(x, n) for n in ("Wq", "Wk", "Wv"))
        o, state = tensor_attention(q, k, v, mode="chunk", chunk_size=self.chunk_size,
                                    normalize=self.normalize, decay=self.decay,
                                    output_final_state=True)
        assert state is not None
        return self._output(o), state

    def step(self, x: Tensor, state: TensorAttentionState | None = None
             ) -> tuple[Tensor, TensorAttentionState]:
        """One token ``[B, width]`` with the carried state; equals :meth:`forward` row by row."""
        self._check(x, 2)
        q, k, v = (self._heads(x.unsqueeze(1), n) for n in ("Wq", "Wk", "Wv"))
        o, new = tensor_attention(q, k, v, mode="recurrent", normalize=self.normalize,
                                  decay=self.decay, initial_state=state,
                                  output_final_state=True)
        assert new is not None
        return self._output(o)[:, 0], new

    def reference(self, x: Tensor) -> Tensor:
        """The expression evaluated node by node (equals :meth:`forward` when
        ``normalize=False`` and there is no decay)."""
        return self.interaction.reference(x)


class DTNBlock(nn.Module):
    """Pre-norm block: ``z = x + TA(conv(LN x))``; ``y = z + mix(LN z)`` with ``conv`` the
    short causal convolution of :mod:`prodint.nn.local_conv` (kernel ``local_conv``; ``0``
    leaves it out) and ``mix`` the tensor
    interaction (``channel_mixer="tensor_interaction"``, heads of the projected ``z``) or a
    GELU MLP (``"mlp"``). Order 5 (tensor attention) times the mixer's (tensor interaction
    multiplies by its own order 3: ``v M Mᵀ`` with ``M = QᵀK``)."""

    def __init__(self, width: int, heads: int, *, channel_mixer: str = "mlp",
                 hidden: int | None = None, normalize: bool = False,
                 decay: float | None = None, local_conv: int = 4) -> None:
        super().__init__()
        if channel_mixer not in ("mlp", "tensor_interaction"):
            raise ValueError(f"channel_mixer: expected 'mlp' or 'tensor_interaction', "
                             f"received {channel_mixer!r}")
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = TensorAttention(width, heads, normalize=normalize, decay=decay)
        self.local = CausalConv(width, local_conv) if local_conv else None
        self.channel_mixer, self.heads = channel_mixer, heads
        hidden = hidden or 4 * width
        if channel_mixer == "mlp":
            self.mix_in, self.mix_out = nn.Linear(width, hidden), nn.Linear(hidden, width)
        else:
            self.mix_in, self.mix_out = nn.Linear(width, 3 * width), nn.Linear(width, width)

    @property
    def self_interaction_order(self) -> int:
        mixer = 1 if self.channel_mixer == "mlp" else 3
        return self.attention.self_interaction_order * mixer

    def _mix(self, z: Tensor, state: Tensor | None, mode: str, keep_state: bool
             ) -> tuple[Tensor, Tensor | None]:
        if self.channel_mixer == "mlp":
            return self.mix_out(F.gelu(self.mix_in(z))), None
        q, k, v = self.mix_in(z).unflatten(-1, (3, self.heads, -1)).unbind(-3)
        o, new = tensor_interaction(q, k, v, mode=mode, initial_state=state,
                                    output_final_state=keep_state)
        return self.mix_out(o.flatten(-2)), new

    def forward(self, x: Tensor) -> Tensor:
        u = self.norm1(x)
        z = x + self.attention(u if self.local is None else self.local(u))
        return z + self._mix(self.norm2(z), None, "chunk", False)[0]

    def prefill(self, x: Tensor) -> tuple[Tensor, tuple]:
        """:meth:`forward` with the state after the last token, for :meth:`step`."""
        u, conv_state = self.norm1(x), None
        if self.local is not None:
            u, conv_state = self.local.prefill(u)
        a, att_state = self.attention.prefill(u)
        z = x + a
        m, mix_state = self._mix(self.norm2(z), None, "chunk", True)
        return z + m, (att_state, mix_state, conv_state)

    def step(self, x: Tensor, state: tuple | None = None) -> tuple[Tensor, tuple]:
        """One token ``[B, width]``; ``state`` is ``(attention, mixer, convolution)`` states."""
        att_state, mix_state, conv_state = state if state is not None else (None, None, None)
        u = self.norm1(x)
        if self.local is not None:
            u, conv_state = self.local.step(u, conv_state)
        a, att_state = self.attention.step(u, att_state)
        z = x + a
        m, mix_state = self._mix(self.norm2(z).unsqueeze(1), mix_state, "recurrent", True)
        return z + m[:, 0], (att_state, mix_state, conv_state)


class DTN(StackedLM):
    """Character-level language model of :class:`DTNBlock` s (:class:`StackedLM`)."""

    def __init__(self, vocab: int, width: int = 128, depth: int = 2, heads: int = 4, *,
                 channel_mixer: str = "mlp", normalize: bool = False,
                 local_conv: int = 4) -> None:
        super().__init__(vocab, width, (
            DTNBlock(width, heads, channel_mixer=channel_mixer, normalize=normalize,
                     local_conv=local_conv) for _ in range(depth)))

    @property
    def self_interaction_order(self) -> int:
        order = 1
        for block in self.blocks:
            order *= block.self_interaction_order
        return order
