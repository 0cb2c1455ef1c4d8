"""The initialization of prodint's language models: each block's own, and what depth adds.

Initialization is decided in one place per module, its ``reset_parameters``: prodint's layers
draw what they document (tensor attention its scaled ``Wq``/``Wk``, Mamba its decays and step
sizes, the softmax attention ``N(0, 1/width)``, the short causal convolution its small taps),
torch's ``Linear`` and ``LayerNorm`` their defaults. :func:`init_language_model_` runs those
(children before parents, so a block that adjusts its sub-layers' draws has the last word)
and adds only what belongs to the model as a whole:

- the embedding, tied to the output head, is drawn ``N(0, EMBEDDING_STD²)``: small, so the
  initial logits ``LN(h) Eᵀ`` are near uniform (cross-entropy ``≈ ln vocab``);
- the projections that write into the residual stream (parameter names ending in
  :data:`RESIDUAL_OUTPUTS`: the token mixer's output ``Wo`` and the MLP's ``mix_out``) are
  scaled by ``1/√(2·depth)``: ``2·depth`` branches add into the stream, so its variance
  does not grow with depth (GPT-2's rule, applied to each block's own draw).

:class:`~prodint.nn.stacked_lm.StackedLM` (and so :class:`~prodint.nn.softmax_lm.SoftmaxLM`)
initializes this way; :class:`~prodint.nn.dtn.DTN` applies the same two model-level rules
after its parts' own draws, so a comparison between them starts from the same scheme.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["EMBEDDING_STD", "RESIDUAL_OUTPUTS", "init_language_model_", "reset_blocks_"]

RESIDUAL_OUTPUTS = (".Wo", "mix_out.weight")
EMBEDDING_STD = 0.02


def _post_order(module: nn.Module) -> list[nn.Module]:
    out: list[nn.Module] = []
    for child in module.children():
        out.extend(_post_order(child))
    out.append(module)
    return out


@torch.no_grad()
def reset_blocks_(model: nn.Module) -> None:
    """Run the own ``reset_parameters`` of every module below ``model`` (not ``model``'s
    own: that is the caller), children before parents."""
    for child in model.children():
        for module in _post_order(child):
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()


@torch.no_grad()
def init_language_model_(model: nn.Module, depth: int, *,
                         embedding: nn.Embedding | None = None) -> None:
    """Initialize ``model`` in place: its blocks' own draws, then the model-level rules.

    Args:
        model: the language model.
        depth: the number of residual blocks (``2·depth`` branches write into the stream).
        embedding: the tied embedding to draw ``N(0, EMBEDDING_STD²)`` (``model.embed`` when
            ``None``).
    """
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"depth: expected a positive int, received {depth!r}")
    embedding = embedding if embedding is not None else getattr(model, "embed", None)
    if not isinstance(embedding, nn.Embedding):
        raise TypeError(f"embedding: expected an nn.Embedding (or a model with .embed), "
                        f"received {type(embedding).__name__}")
    reset_blocks_(model)
    nn.init.normal_(embedding.weight, std=EMBEDDING_STD)
    scale = 1.0 / math.sqrt(2 * depth)
    for name, p in model.named_parameters():
        if name.endswith(RESIDUAL_OUTPUTS):
            p.mul_(scale)
