"""The Deep Tensor Network language model: embedding, DTN blocks, norm, tied head.

``logits = LN(h_L) Eᵀ`` with ``h_0 = E[tokens]`` and ``h_l = block_l(h_{l−1})``
(:class:`~prodint.nn.dtn.block.DTNBlock`), the head tied to the embedding ``E`` — the layout
of :class:`~prodint.nn.stacked_lm.StackedLM`, written as one composite layer so that the
whole model has one expression (over one-hot tokens ``X[t, v]``) and a derived order:
``5^depth`` with MLP channel mixers, ``25^depth`` with tensor interaction (each block
multiplies the order of its input; the embedding, the norm and the head keep it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.interaction import Contract, Expr, Signal
from prodint.interaction.composite import CompositeLayer
from prodint.interaction.layer import InteractionLayer
from prodint.nn.dtn.block import DTNBlock, DTNBlockState
from prodint.nn.dtn.checks import check_positive
from prodint.nn.dtn.parts import LayerNorm, TokenEmbedding
from prodint.nn.lm_init import EMBEDDING_STD, RESIDUAL_OUTPUTS

__all__ = ["DTN"]


def _model_expression(x: Expr, parts: Mapping[str, InteractionLayer], prefix: str) -> Expr:
    embed = parts["embed"]
    assert isinstance(embed, TokenEmbedding)
    h = embed.expression_on(x, f"{prefix}embed_")
    for key in [k for k in parts if k not in ("embed", "norm")]:  # the blocks, in order
        h = parts[key].expression_on(h, f"{prefix}{key}_")  # type: ignore[attr-defined]
    h = parts["norm"].expression_on(h, f"{prefix}norm_")  # type: ignore[attr-defined]
    return Contract(h, embed.table(f"{prefix}embed_"), over="m")  # [t, v]


class DTN(CompositeLayer):
    """Character-level language model of :class:`~prodint.nn.dtn.block.DTNBlock` s.

    Args:
        vocab: number of token ids.
        width, depth, heads: model width, number of blocks, heads per block.
        channel_mixer, normalize, decay, local_conv, chunk_size: passed to every block.
        device, dtype, generator: passed to every part.

    Calls take token ids: :meth:`forward` ``[B, T] → [B, T, vocab]`` logits, :meth:`prefill`
    (a prompt in parallel), :meth:`step` (one token ``[B]``), :meth:`generate`. ``general``
    and ``reference`` take the same ids and run the expression on their one-hot encoding.

    Initialisation (:meth:`reset_parameters`): every block its own (the parts' documented
    draws), then what belongs to the model (:mod:`prodint.nn.lm_init`): ``E ~ N(0,
    EMBEDDING_STD²)``, small, so the initial logits are near uniform, and the projections
    that write into the residual stream (the token mixer's and the channel mixer's ``Wo``)
    scaled by ``1/√(2·depth)``.
    """

    def __init__(self, vocab: int, width: int = 128, depth: int = 2, heads: int = 4, *,
                 channel_mixer: str = "mlp", normalize: bool = False,
                 decay: float | None = None, local_conv: int = 4, chunk_size: int = 64,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_positive(vocab=vocab, width=width, depth=depth, heads=heads)
        kw = {"device": device, "dtype": dtype, "generator": generator}
        embed = TokenEmbedding(vocab, width, **kw)
        blocks = [DTNBlock(width, heads, channel_mixer=channel_mixer, normalize=normalize,
                           decay=decay, local_conv=local_conv, chunk_size=chunk_size, **kw)
                  for _ in range(depth)]
        norm = LayerNorm(width, **kw)
        parts = {"embed": embed, **{f"block{i}": b for i, b in enumerate(blocks)},
                 "norm": norm}
        super().__init__(Signal("X", [("t", None), ("v", vocab)]), _model_expression, parts,
                         device=device, dtype=dtype, generator=generator)
        self.vocab, self.width, self.depth = vocab, width, depth
        self.embed, self.blocks, self.norm = embed, nn.ModuleList(blocks), norm
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The parts' own draws, then the model-level rules (class doc)."""
        super().reset_parameters()
        self.embed.weight.normal_(0.0, EMBEDDING_STD, generator=self._generator)
        scale = 1.0 / math.sqrt(2 * self.depth)
        for name, p in self.named_parameters():
            if name.endswith(RESIDUAL_OUTPUTS):
                p.mul_(scale)

    # ------------------------------------------------------------------ executions
    def _check(self, tokens: object, rank: int) -> Tensor:
        name, shape = ("tokens", "[B, T]") if rank == 2 else ("token", "[B]")
        if not isinstance(tokens, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor {shape} of token ids, received "
                            f"{type(tokens).__name__}")
        if tokens.dim() != rank or tokens.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"{name}: expected integer ids {shape}, received "
                             f"{tokens.dtype} of shape {tuple(tokens.shape)}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab):
            raise ValueError(f"{name}: expected ids in [0, {self.vocab}), received ids in "
                             f"[{int(tokens.min())}, {int(tokens.max())}]")
        return tokens

    def _head(self, h: Tensor) -> Tensor:
        return self.norm(h) @ self.embed.weight.T

    def _one_hot(self, tokens: Tensor) -> Tensor:
        return F.one_hot(self._check(tokens, 2), self.vocab).to(self.embed.weight.dtype)

    def forward(self, tokens: Tensor, *, mode: str = "chunk") -> Tensor:
        """``[B, T]`` token ids → ``[B, T, vocab]`` logits; ``mode`` selects the blocks'
        kernels."""
        h = self.embed(self._check(tokens, 2))
        for block in self.blocks:
            h = block(h, mode=mode)
        return self._head(h)

    def general(self, tokens: Tensor) -> Tensor:
        """The compiled expression of the whole model on the one-hot ``tokens``."""
        return self.run_plan(self._one_hot(tokens))

    def reference(self, tokens: Tensor) -> Tensor:
        """The model's expression evaluated node by node on the one-hot ``tokens``."""
        return self.run_reference(self._one_hot(tokens))

    def oracle(self, tokens: Tensor) -> Tensor:
        """:meth:`forward` with the operators' naive forms."""
        return self(tokens, mode="naive")

    # ------------------------------------------------------------------ streaming
    def prefill(self, tokens: Tensor) -> tuple[Tensor, list[DTNBlockState]]:
        """A prompt ``[B, T]`` in parallel: ``[B, T, vocab]`` logits and the per-block states
        after its last token, from which :meth:`step` continues."""
        h = self.embed(self._check(tokens, 2))
        states = []
        for block in self.blocks:
            h, state = block.prefill(h)
            states.append(state)
        return self._head(h), states

    def step(self, token: Tensor, state: list[DTNBlockState] | None = None
             ) -> tuple[Tensor, list[DTNBlockState]]:
        """``[B]`` token ids → ``[B, vocab]`` logits and the new per-block states."""
        h = self.embed(self._check(token, 1))
        if state is not None and len(state) != len(self.blocks):
            raise ValueError(f"state: expected {len(self.blocks)} block states, received "
                             f"{len(state)}")
        new = []
        for block, s in zip(self.blocks, state or [None] * len(self.blocks), strict=True):
            h, s = block.step(h, s)
            new.append(s)
        return self._head(h), new

    @torch.no_grad()
    def generate(self, prompt: Tensor, steps: int, *, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> Tensor:
        """Sample ``steps`` tokens after ``prompt [B, T0]`` (read in parallel by
        :meth:`prefill`), streaming one token at a time with :meth:`step`."""
        check_positive(steps=steps)
        logits, state = self.prefill(prompt)
        logits = logits[:, -1]
        out = [prompt]
        for _ in range(steps):
            probs = torch.softmax(logits / max(temperature, 1e-6), -1)
            token = torch.multinomial(probs, 1, generator=generator)
            out.append(token)
            logits, state = self.step(token[:, 0], state)
        return torch.cat(out, 1)
