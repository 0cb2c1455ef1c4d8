"""The Deep Tensor Network language model: embedding, DTN blocks, norm, tied head.

``logits = LN(h_L) Eᵀ`` with ``h_0 = E[tokens]`` and ``h_l = block_l(h_{l−1})``
(:class:`~prodint.nn.dtn.block.DTNBlock`), the head tied to the embedding ``E``: a
:class:`~prodint.nn.stacked_lm.StackedLM` of DTN blocks, so that the whole model has one
expression (over one-hot tokens ``X[t, v]``) and a derived order: ``5^depth`` with MLP channel
mixers, ``25^depth`` with tensor interaction (each block multiplies the order of its input;
the embedding, the norm and the head keep it).
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.checks import check_layer_options
from prodint.nn.dtn.block import DTNBlock
from prodint.nn.dtn.checks import check_model_sizes
from prodint.nn.stacked_lm import StackedLM

__all__ = ["DTN"]


class DTN(StackedLM):
    """Character-level language model of :class:`~prodint.nn.dtn.block.DTNBlock` s.

    Args:
        vocab: number of token ids.
        width, depth, heads: model width, number of blocks, heads per block.
        channel_mixer, normalize, decay, local_conv, chunk_size: passed to every block.
        device, dtype, generator: passed to every part.

    Raises:
        TypeError: a size that is not an int, an option of the wrong kind.
        ValueError: a size below 1 (``vocab=0``, ``depth=-1``...), parameters that would not
            fit in memory, or a block's option out of range.

    Calls take token ids (:class:`~prodint.nn.stacked_lm.StackedLM`): :meth:`forward`
    ``[B, T] → [B, T, vocab]`` logits, ``prefill`` (a prompt in parallel), ``step`` (one
    token ``[B]``), ``generate``; ``general`` and ``reference`` run the expression on the
    one-hot tokens. The streaming state is a list of
    :class:`~prodint.nn.dtn.block.DTNBlockState`.

    Initialisation (:mod:`prodint.nn.lm_init`): every block its own (the parts' documented
    draws), then what belongs to the model: ``E ~ N(0, EMBEDDING_STD²)``, small, so the
    initial logits are near uniform, and the projections that write into the residual stream
    (the token mixer's and the channel mixer's ``Wo``) scaled by ``1/√(2·depth)``.
    """

    def __init__(self, vocab: int, width: int = 128, depth: int = 2, heads: int = 4, *,
                 channel_mixer: str = "mlp", normalize: bool = False,
                 decay: float | None = None, local_conv: int = 4, chunk_size: int = 64,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_layer_options(device, dtype, generator)
        check_model_sizes(vocab, width, depth, heads, dtype)
        kw = {"device": device, "dtype": dtype, "generator": generator}
        blocks = [DTNBlock(width, heads, channel_mixer=channel_mixer, normalize=normalize,
                           decay=decay, local_conv=local_conv, chunk_size=chunk_size, **kw)
                  for _ in range(depth)]
        super().__init__(vocab, width, blocks, **kw)

    def forward(self, tokens: Tensor, *, mode: str = "chunk") -> Tensor:
        """``[B, T]`` token ids → ``[B, T, vocab]`` logits; ``mode`` selects the blocks'
        kernels (``"naive"``, ``"chunk"``, ``"recurrent"``)."""
        return self._logits(tokens, lambda block, h: block(h, mode=mode))

    def oracle(self, tokens: Tensor) -> Tensor:
        """:meth:`forward` with the operators' naive forms."""
        return self(tokens, mode="naive")
