"""A softmax-attention language model built to match :class:`~prodint.nn.dtn.DTN` exactly.

:class:`SoftmaxLM` is the DTN with its token mixer swapped: each block is
``z = x + Attn(conv(LN x))``, ``y = z + MLP(LN z)`` where ``Attn`` is causal multi-head
softmax attention ``softmax(q kᵀ / √d + mask) v`` (order 3) with bias-free ``Wq, Wk, Wv, Wo``
of the same shapes as the tensor attention's; embedding, norms, the short causal convolution,
MLP and the tied head are the DTN's parts (:mod:`prodint.nn.dtn.parts`), and the model is a
:class:`~prodint.nn.stacked_lm.StackedLM` as the DTN is. So width, depth and parameter count
are equal, and the two differ only in how tokens mix. Neither model has positional
embeddings; both see order through the short causal convolution before the token mixer.

Every piece follows the layer contract. :class:`CausalSelfAttention`'s expression is
:func:`~prodint.interaction.library.multihead_attention` (causal), its ``forward`` torch's
``scaled_dot_product_attention``. :class:`SoftmaxBlock` is a composite
(:class:`~prodint.interaction.composite.CompositeLayer`) whose expression is the whole block,
so its order is derived: the norms, the convolution, the residual sums and the MLP keep the
order, softmax attention multiplies it by 3 (``q, k, v`` are linear in its input, the softmax
keeps the order of the scores), so a block has order 3 and a model of ``depth`` blocks
``3^depth``.

:meth:`SoftmaxLM.step` streams with a key/value cache (``[B, H, t, d]`` per block, growing
with the context, kept in a buffer of doubling capacity), the standard way to generate with
softmax attention.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.checks import check_layer_options, check_parameter_memory
from prodint.interaction import Expr, Signal, Sum, library
from prodint.interaction.composite import CompositeLayer
from prodint.interaction.layer import InteractionLayer
from prodint.nn.dtn.checks import (
    check_block_sizes,
    check_heads,
    check_model_sizes,
    check_state_batch,
)
from prodint.nn.dtn.heads import TokenLayer
from prodint.nn.dtn.parts import MLP, LayerNorm, ShortConv
from prodint.nn.stacked_lm import StackedLM, on_stream
from prodint.ops.checks import check_tokens

__all__ = ["CausalSelfAttention", "SoftmaxBlock", "SoftmaxBlockState", "SoftmaxLM"]

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
        check_layer_options(device, dtype, generator)
        check_heads(width, heads)
        check_parameter_memory(4 * width * width, "width", dtype, what="Wq, Wk, Wv and Wo")
        super().__init__(library.multihead_attention(width, heads, causal=True),
                         device=device, dtype=dtype, generator=generator)
        self.width, self.heads, self.head_dim = width, heads, width // heads


    def _tokens(self, x: object, rank: int) -> Tensor:
        """``x`` checked as ``[B, T, width]`` (``rank`` 3) or ``[B, width]``, of the dtype and
        device of the parameters."""
        return check_tokens(x, rank, self.width, like=self.param("Wq"))

    def _heads(self, x: Tensor, name: str) -> Tensor:
        return (x @ self.param(name)).unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)

    def _output(self, o: Tensor) -> Tensor:
        return o.transpose(1, 2).flatten(-2) @ self.param("Wo")

    def forward(self, x: Tensor) -> Tensor:
        """``[B, T, width] → [B, T, width]`` by ``F.scaled_dot_product_attention``."""
        q, k, v = (self._heads(self._tokens(x, 3), w) for w in ("Wq", "Wk", "Wv"))
        return self._output(F.scaled_dot_product_attention(q, k, v, is_causal=True))

    def prefill(self, x: Tensor) -> tuple[Tensor, KVCache]:
        """:meth:`forward` that also returns the key/value cache of its ``T`` positions
        (capacity the next power of two ≥ 16)."""
        q, k, v = (self._heads(self._tokens(x, 3), w) for w in ("Wq", "Wk", "Wv"))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        length = k.shape[2]
        buffer = k.new_zeros(2, *k.shape[:2], max(16, 1 << (length - 1).bit_length()),
                             self.head_dim)
        buffer[0, :, :, :length], buffer[1, :, :, :length] = k, v
        _track(buffer, length)
        return self._output(o), (buffer, length)

    def step(self, x: Tensor, cache: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """One token ``[B, width]`` attending to the cached keys and values.

        The cache is ``(buffer [2, B, H, capacity, d], length)`` (``None``: empty): keys and
        values of the first ``length`` positions, in a buffer whose capacity doubles when
        full, so a step appends in place instead of copying the whole cache. A cache stays
        valid when another step continues from the same parent: a step from a cache whose
        buffer already holds later positions (written by a step from that parent) first
        copies the buffer, so that branches never overwrite each other.
        """
        x = self._tokens(x, 2)
        q, k, v = (self._heads(x.unsqueeze(1), w) for w in ("Wq", "Wk", "Wv"))
        if cache is None:
            buffer, length = q.new_zeros(2, *k.shape[:2], 16, self.head_dim), 0
        else:
            buffer, length = cache
        if length == buffer.shape[3]:
            buffer = torch.cat([buffer, torch.zeros_like(buffer)], 3)
        elif _FILLED.get(id(buffer), length) > length:  # another branch wrote past `length`
            buffer = buffer.clone()
        buffer[0, :, :, length], buffer[1, :, :, length] = k[:, :, 0], v[:, :, 0]
        length += 1
        _track(buffer, length)
        o = F.scaled_dot_product_attention(q, buffer[0, :, :, :length],
                                           buffer[1, :, :, :length])
        return self._output(o)[:, 0], (buffer, length)


#: Positions written so far into each live key/value buffer, by ``id``: a step from a cache
#: shorter than its buffer's mark would overwrite another branch, so it copies first.
_FILLED: dict[int, int] = {}


def _track(buffer: Tensor, length: int) -> None:
    """Record that ``buffer`` holds ``length`` positions (forgotten when it is freed)."""
    if id(buffer) not in _FILLED:
        weakref.finalize(buffer, _FILLED.pop, id(buffer), None)
    _FILLED[id(buffer)] = length


class SoftmaxBlockState(NamedTuple):
    """Streaming state of a :class:`SoftmaxBlock`.

    Attributes:
        cache: the attention's key/value cache ``(buffer [2, B, H, capacity, d], length)``.
        conv: the last ``local_conv − 1`` inputs of the convolution ``[B, k − 1, width]``
            (``None`` without one).
    """

    cache: KVCache
    conv: Tensor | None


def _block_expression(x: Expr, parts: Mapping[str, InteractionLayer], prefix: str) -> Expr:
    def part(key: str, u: Expr) -> Expr:
        return parts[key].expression_on(u, f"{prefix}{key}_")

    u = part("norm1", x)
    if "local" in parts:
        u = part("local", u)
    z = Sum(x, on_stream(parts["attention"], u, f"{prefix}attention_"))
    return Sum(z, part("mixer", part("norm2", z)))


class SoftmaxBlock(CompositeLayer, TokenLayer):
    """Pre-norm block with softmax attention and a GELU MLP (the DTN block's layout) on
    ``[B, T, width]``: ``z = x + Attn(conv(LN₁ x))``, ``y = z + MLP(LN₂ z)``, ``conv`` the short
    causal convolution (:class:`~prodint.nn.dtn.parts.ShortConv`, kernel ``local_conv``; ``0``
    leaves it out). Order 3 (module doc).

    Args:
        width, heads: model width and number of heads.
        hidden: the MLP's hidden width (default ``4·width``).
        local_conv: kernel of the short convolution (``0``: none).
        device, dtype, generator: passed to every part.

    The parts are :attr:`norm1`, :attr:`local` (or ``None``), :attr:`attention`,
    :attr:`norm2` and :attr:`mixer`; each keeps its parameters and its own initialisation.
    ``general`` and ``reference`` run the whole block's expression
    (:class:`~prodint.nn.dtn.heads.TokenLayer`). The streaming state is a
    :class:`SoftmaxBlockState`.
    """

    def __init__(self, width: int, heads: int, hidden: int | None = None,
                 local_conv: int = 4, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_layer_options(device, dtype, generator)
        check_block_sizes(width, heads, hidden, local_conv, dtype)
        kw = {"device": device, "dtype": dtype, "generator": generator}
        attention = CausalSelfAttention(width, heads, **kw)
        local = ShortConv(width, local_conv, **kw) if local_conv else None
        parts: dict[str, InteractionLayer] = {"norm1": LayerNorm(width, **kw)}
        if local is not None:
            parts["local"] = local
        parts |= {"attention": attention, "norm2": LayerNorm(width, **kw),
                  "mixer": MLP(width, hidden or 4 * width, **kw)}
        super().__init__(Signal("X", [("t", None), ("m", width)]), _block_expression, parts,
                         device=device, dtype=dtype, generator=generator)
        self.width = width
        self.norm1, self.local, self.attention = parts["norm1"], local, attention
        self.norm2, self.mixer = parts["norm2"], parts["mixer"]

    def forward(self, x: Tensor) -> Tensor:
        """``[B, T, width] → [B, T, width]`` by the parts' fast paths."""
        u = self.norm1(self._tokens(x, 3))
        if self.local is not None:
            u = self.local(u)
        z = x + self.attention(u)
        return z + self.mixer(self.norm2(z))

    def prefill(self, x: Tensor) -> tuple[Tensor, SoftmaxBlockState]:
        """:meth:`forward` and the state after the last token, for :meth:`step`."""
        u, conv = self.norm1(self._tokens(x, 3)), None
        if self.local is not None:
            u, conv = self.local.prefill(u)
        a, cache = self.attention.prefill(u)
        z = x + a
        return z + self.mixer(self.norm2(z)), SoftmaxBlockState(cache, conv)

    def step(self, x: Tensor, state: SoftmaxBlockState | None = None
             ) -> tuple[Tensor, SoftmaxBlockState]:
        """One token ``[B, width]`` with the carried state (``None`` before the first)."""
        x = self._tokens(x, 2)
        if state is not None and not isinstance(state, SoftmaxBlockState):
            raise TypeError(f"state: expected a SoftmaxBlockState or None, received "
                            f"{type(state).__name__}")
        if state is not None:
            check_state_batch((state.cache[0][0], state.conv), x.shape[0], "x_t")
        cache, conv = state if state is not None else (None, None)
        u = self.norm1(x)
        if self.local is not None:
            u, conv = self.local.step(u, conv)
        a, cache = self.attention.step(u, cache)
        z = x + a
        return z + self.mixer(self.norm2(z)), SoftmaxBlockState(cache, conv)


class SoftmaxLM(StackedLM):
    """Character-level softmax Transformer of :class:`SoftmaxBlock` s
    (:class:`~prodint.nn.stacked_lm.StackedLM`), order ``3^depth``; the per-block streaming
    state holds the key/value cache.

    Args:
        vocab: number of token ids.
        width, depth, heads: model width, number of blocks, heads per block.
        local_conv: kernel of every block's short convolution (``0``: none).
        device, dtype, generator: passed to every part.
    """

    def __init__(self, vocab: int, width: int = 128, depth: int = 2, heads: int = 4, *,
                 local_conv: int = 4, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_layer_options(device, dtype, generator)
        check_model_sizes(vocab, width, depth, heads, dtype)
        kw = {"device": device, "dtype": dtype, "generator": generator}
        super().__init__(vocab, width, [SoftmaxBlock(width, heads, local_conv=local_conv, **kw)
                                        for _ in range(depth)], **kw)
