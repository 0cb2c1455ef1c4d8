"""A softmax-attention language model built to match :class:`~prodint.nn.dtn.DTN` exactly.

:class:`SoftmaxLM` is the DTN with its token mixer swapped: each block is
``z = x + Attn(LN x)``, ``y = z + MLP(LN z)`` where ``Attn`` is causal multi-head softmax
attention ``softmax(q kᵀ / √d + mask) v`` (order 3) with bias-free ``Wq, Wk, Wv, Wo`` of the
same shapes as the tensor attention's; embedding, norms, MLP and the tied head are the DTN's.
:class:`CausalSelfAttention` follows the layer contract: its expression is
:func:`~prodint.interaction.library.multihead_attention` (causal), its ``forward`` is torch's
``scaled_dot_product_attention``.
So width, depth and parameter count are equal, and the two differ only in how tokens mix.
Neither model has positional embeddings; both see order through the same short causal
convolution before the token mixer (:mod:`prodint.nn.local_conv`).

:meth:`SoftmaxLM.step` streams with a key/value cache (``[B, H, t, d]`` per block, growing
with the context, kept in a buffer of doubling capacity), the standard way to generate with
softmax attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.interaction import library
from prodint.interaction.layer import InteractionLayer
from prodint.nn.local_conv import CausalConv
from prodint.nn.stacked_lm import StackedLM

__all__ = ["CausalSelfAttention", "SoftmaxBlock", "SoftmaxLM"]

KVCache = tuple[Tensor, int]


class CausalSelfAttention(InteractionLayer):
    """Causal multi-head softmax attention on ``[B, T, width]``, no biases.

    ``o = Σ_h softmax_s(Q_h K_hᵀ / √d + causal mask) V_h Wo`` with ``Q = X Wq`` (``x @ W``
    layout, ``[width, width]`` each) split into ``heads`` heads of ``d = width / heads``.
    Initialisation (:meth:`reset_parameters`): every matrix ``N(0, 1/width)``, the
    expression's variance-preserving draw (the same as tensor attention's ``Wv`` and ``Wo``).

    Args:
        width: model width.
        heads: number of heads.
        device, dtype, generator: where the parameters live, their dtype, the random draws.
    """

    def __init__(self, width: int, heads: int, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        for name, value in (("width", width), ("heads", heads)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive int, received {value!r}")
        if width % heads:
            raise ValueError(f"heads: expected a divisor of width={width}, received {heads}")
        super().__init__(library.multihead_attention(width, heads, causal=True),
                         device=device, dtype=dtype, generator=generator)
        self.width, self.heads, self.head_dim = width, heads, width // heads

    def _check(self, x: object, rank: int) -> Tensor:
        name, shape = ("x", f"[B, T, {self.width}]") if rank == 3 else \
            ("x_t", f"[B, {self.width}]")
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor {shape}, received "
                            f"{type(x).__name__}")
        if x.dim() != rank or x.shape[-1] != self.width:
            raise ValueError(f"{name}: expected {shape} (width={self.width}), received "
                             f"shape {tuple(x.shape)}")
        return x

    def _heads(self, x: Tensor, name: str) -> Tensor:
        return (x @ self.param(name)).unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)

    def _output(self, o: Tensor) -> Tensor:
        return o.transpose(1, 2).flatten(-2) @ self.param("Wo")

    def forward(self, x: Tensor) -> Tensor:
        """``[B, T, width] → [B, T, width]`` by ``F.scaled_dot_product_attention``."""
        self._check(x, 3)
        q, k, v = (self._heads(x, w) for w in ("Wq", "Wk", "Wv"))
        return self._output(F.scaled_dot_product_attention(q, k, v, is_causal=True))

    def prefill(self, x: Tensor) -> tuple[Tensor, KVCache]:
        """:meth:`forward` that also returns the key/value cache of its ``T`` positions
        (capacity the next power of two ≥ 16)."""
        self._check(x, 3)
        q, k, v = (self._heads(x, w) for w in ("Wq", "Wk", "Wv"))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        length = k.shape[2]
        buffer = k.new_empty(2, *k.shape[:2], max(16, 1 << (length - 1).bit_length()),
                             self.head_dim)
        buffer[0, :, :, :length], buffer[1, :, :, :length] = k, v
        return self._output(o), (buffer, length)

    def step(self, x: Tensor, cache: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """One token ``[B, width]`` attending to the cached keys and values.

        The cache is ``(buffer [2, B, H, capacity, d], length)`` (``None``: empty): keys and
        values of the first ``length`` positions, in a buffer whose capacity doubles when
        full, so a step appends in place instead of copying the whole cache.
        """
        self._check(x, 2)
        q, k, v = (self._heads(x.unsqueeze(1), w) for w in ("Wq", "Wk", "Wv"))
        if cache is None:
            buffer, length = q.new_empty(2, *k.shape[:2], 16, self.head_dim), 0
        else:
            buffer, length = cache
        if length == buffer.shape[3]:
            buffer = torch.cat([buffer, torch.empty_like(buffer)], 3)
        buffer[0, :, :, length], buffer[1, :, :, length] = k[:, :, 0], v[:, :, 0]
        length += 1
        o = F.scaled_dot_product_attention(q, buffer[0, :, :, :length],
                                           buffer[1, :, :, :length])
        return self._output(o)[:, 0], (buffer, length)


class SoftmaxBlock(nn.Module):
    """Pre-norm block with softmax attention and a GELU MLP (the DTN block's layout):
    ``z = x + Attn(conv(LN x))``, ``y = z + MLP(LN z)``, ``conv`` the short causal
    convolution of :mod:`prodint.nn.local_conv` (kernel ``local_conv``; ``0`` leaves it out).
    The streaming state is ``(key/value cache, convolution state)``."""

    def __init__(self, width: int, heads: int, hidden: int | None = None,
                 local_conv: int = 4) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads)
        self.local = CausalConv(width, local_conv) if local_conv else None
        hidden = hidden or 4 * width
        self.mix_in, self.mix_out = nn.Linear(width, hidden), nn.Linear(hidden, width)

    def _mlp(self, z: Tensor) -> Tensor:
        return z + self.mix_out(F.gelu(self.mix_in(self.norm2(z))))

    def forward(self, x: Tensor) -> Tensor:
        u = self.norm1(x)
        return self._mlp(x + self.attention(u if self.local is None else self.local(u)))

    def prefill(self, x: Tensor) -> tuple[Tensor, tuple]:
        u, conv_state = self.norm1(x), None
        if self.local is not None:
            u, conv_state = self.local.prefill(u)
        a, cache = self.attention.prefill(u)
        return self._mlp(x + a), (cache, conv_state)

    def step(self, x: Tensor, state: tuple | None) -> tuple[Tensor, tuple]:
        cache, conv_state = state if state is not None else (None, None)
        u = self.norm1(x)
        if self.local is not None:
            u, conv_state = self.local.step(u, conv_state)
        a, cache = self.attention.step(u, cache)
        return self._mlp(x + a), (cache, conv_state)


class SoftmaxLM(StackedLM):
    """Character-level softmax Transformer of :class:`SoftmaxBlock` s (:class:`StackedLM`);
    the per-block streaming state holds the key/value cache."""

    def __init__(self, vocab: int, width: int = 128, depth: int = 2, heads: int = 4, *,
                 local_conv: int = 4) -> None:
        super().__init__(vocab, width, (SoftmaxBlock(width, heads, local_conv=local_conv)
                                        for _ in range(depth)))
