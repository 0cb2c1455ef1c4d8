"""The initialization of prodint's language models: each block's own, and what depth adds.

Initialization is decided in one place per layer, its ``reset_parameters``: prodint's layers
draw what they document (tensor attention its scaled ``Wq``/``Wk``, Mamba its decays and step
sizes, the softmax attention ``N(0, 1/width)``, the MLP ``nn.Linear``'s draws, the short
causal convolution its small taps, the norms ones and zeros). A language model is a
composite (:class:`~prodint.nn.stacked_lm.StackedLM`) whose parts are those layers;
:func:`init_language_model_` runs every part's own ``reset_parameters`` (a composite block
runs its parts', so a block that adjusts its sub-layers' draws has the last word) and adds
only what belongs to the model as a whole:

- the embedding, tied to the output head, is drawn ``N(0, EMBEDDING_STD²)``: small, so the
  initial logits ``LN(h) Eᵀ`` are near uniform (cross-entropy ``≈ ln vocab``);
- the projections that write into the residual stream (parameter names ending in
  :data:`RESIDUAL_OUTPUTS`: the token mixer's output ``Wo`` and the MLP's ``Wo``) are scaled
  by ``1/√(2·depth)``: ``2·depth`` branches add into the stream, so its variance does not
  grow with depth (GPT-2's rule, applied to each block's own draw).

:class:`~prodint.nn.stacked_lm.StackedLM`, and so :class:`~prodint.nn.dtn.DTN` and
:class:`~prodint.nn.softmax_lm.SoftmaxLM`, initialize this way (their ``reset_parameters``),
so a comparison between them starts from the same scheme.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from prodint.interaction.composite import CompositeLayer

__all__ = ["EMBEDDING_STD", "RESIDUAL_OUTPUTS", "init_language_model_"]

RESIDUAL_OUTPUTS = (".Wo",)
EMBEDDING_STD = 0.02


@torch.no_grad()
def init_language_model_(model: CompositeLayer, depth: int, *, embedding: Tensor | None = None,
                         generator: torch.Generator | None = None) -> None:
    """Initialize ``model`` in place: its parts' own draws, then the model-level rules.

    Args:
        model: the language model, a composite whose parts hold its parameters.
        depth: the number of residual blocks (``2·depth`` branches write into the stream).
        embedding: the tied embedding table ``[vocab, width]`` to draw ``N(0, EMBEDDING_STD²)``
            (``model.embed.weight`` when ``None``).
        generator: random generator of the embedding's draw.
    """
    if not isinstance(model, CompositeLayer):
        raise TypeError(f"model: expected a CompositeLayer (a model whose parts hold its "
                        f"parameters), received {type(model).__name__}")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"depth: expected a positive int, received {depth!r}")
    if embedding is None:
        embedding = getattr(getattr(model, "embed", None), "weight", None)
    if not isinstance(embedding, Tensor):
        raise TypeError(f"embedding: expected the tied embedding table (a Tensor, or a model "
                        f"with .embed.weight), received {type(embedding).__name__}")
    model.reset_parts()
    embedding.normal_(0.0, EMBEDDING_STD, generator=generator)
    scale = 1.0 / math.sqrt(2 * depth)
    for name, p in model.named_parameters():
        if name.endswith(RESIDUAL_OUTPUTS):
            p.mul_(scale)
