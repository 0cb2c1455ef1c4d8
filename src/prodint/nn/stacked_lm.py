"""The skeleton shared by prodint's language models.

A :class:`StackedLM` is an embedding, a stack of blocks, a final LayerNorm and a head tied to
the embedding: ``logits = LN(h) Eᵀ``. Every block maps ``[B, T, width] → [B, T, width]`` and
offers ``prefill(x) → (y, state)`` and ``step(x_t, state) → (y_t, state)`` (``state=None``
before the first token), so any sequence module stacks: the DTN's and the softmax LM's
blocks, :class:`~prodint.zoo.mamba.MambaBlock`, :class:`~prodint.zoo.linear_attention.
LinearAttention`. The model composes them into :meth:`StackedLM.forward`,
:meth:`StackedLM.prefill` (a prompt read in parallel), :meth:`StackedLM.step` (one token) and
:meth:`StackedLM.generate`. Subclasses build the blocks
(:class:`~prodint.nn.softmax_lm.SoftmaxLM`); :class:`~prodint.nn.dtn.DTN` has the same layout
written as one composite layer, so that the whole model has an expression.
:meth:`StackedLM.reset_parameters` (run at construction) is
:func:`~prodint.nn.lm_init.init_language_model_`: every block's own initialization, then the
embedding's and the depth scaling of the residual outputs.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from prodint.nn.lm_init import init_language_model_

__all__ = ["StackedLM"]


class StackedLM(nn.Module):
    """Embedding, ``blocks``, norm and tied head (module doc).

    Args:
        vocab: number of token ids.
        width: model width.
        blocks: sequence modules ``[B, T, width] → [B, T, width]`` with ``prefill`` and
            ``step`` (module doc); at least one.
    """

    def __init__(self, vocab: int, width: int, blocks: Iterable[nn.Module]) -> None:
        super().__init__()
        for name, value in (("vocab", vocab), ("width", width)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive int, received {value!r}")
        self.embed = nn.Embedding(vocab, width)
        self.blocks = nn.ModuleList(blocks)
        if not len(self.blocks):
            raise ValueError("blocks: expected at least one block, received none")
        for i, block in enumerate(self.blocks):
            missing = [m for m in ("prefill", "step") if not callable(getattr(block, m, None))]
            if missing:
                raise TypeError(f"blocks[{i}]: expected a sequence module with prefill(x) "
                                f"and step(x_t, state), received {type(block).__name__} "
                                f"without {' and '.join(missing)}")
        self.norm = nn.LayerNorm(width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """:func:`~prodint.nn.lm_init.init_language_model_` with ``depth = len(blocks)``."""
        init_language_model_(self, len(self.blocks))

    def _head(self, h: Tensor) -> Tensor:
        return self.norm(h) @ self.embed.weight.T

    def forward(self, tokens: Tensor) -> Tensor:
        """``[B, T]`` token ids → ``[B, T, vocab]`` logits."""
        h = self.embed(tokens)
        for block in self.blocks:
            h = block(h)
        return self._head(h)

    def prefill(self, tokens: Tensor) -> tuple[Tensor, list]:
        """A prompt ``[B, T]`` in parallel: ``[B, T, vocab]`` logits and the per-block
        states after its last token, from which :meth:`step` continues."""
        h = self.embed(tokens)
        states = []
        for block in self.blocks:
            h, state = block.prefill(h)
            states.append(state)
        return self._head(h), states

    def step(self, token: Tensor, state: list | None = None) -> tuple[Tensor, list]:
        """``[B]`` token ids → ``[B, vocab]`` logits and the new per-block states."""
        h = self.embed(token)
        state = state if state is not None else [None] * len(self.blocks)
        new = []
        for block, s in zip(self.blocks, state, strict=True):
            h, s = block.step(h, s)
            new.append(s)
        return self._head(h), new

    @torch.no_grad()
    def generate(self, prompt: Tensor, steps: int, *, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> Tensor:
        """Sample ``steps`` tokens after ``prompt [B, T0]`` (read in parallel by
        :meth:`prefill`), streaming one token at a time with :meth:`step`."""
        logits, state = self.prefill(prompt)
        logits = logits[:, -1]
        out = [prompt]
        for _ in range(steps):
            probs = torch.softmax(logits / max(temperature, 1e-6), -1)
            token = torch.multinomial(probs, 1, generator=generator)
            out.append(token)
            logits, state = self.step(token[:, 0], state)
        return torch.cat(out, 1)
