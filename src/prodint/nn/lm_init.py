"""The initialization shared by prodint's language models (GPT-2's scheme).

Every matrix ``N(0, 0.02²)``; the matrices that write into the residual stream (attention
output ``Wo`` and the MLP's ``mix_out``) ``N(0, (0.02/√(2·depth))²)`` so that the stream's
variance does not grow with depth; biases zero; norms' gains one. The embedding, tied to the
output head, starts small, so the initial logits are near uniform. Both
:class:`~prodint.nn.dtn.DTN` and :class:`~prodint.nn.softmax_lm.SoftmaxLM` use it, so a
comparison between them starts from the same distribution of weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["RESIDUAL_OUTPUTS", "init_language_model_"]

RESIDUAL_OUTPUTS = (".Wo", "mix_out.weight")
STD = 0.02


@torch.no_grad()
def init_language_model_(model: nn.Module, depth: int) -> None:
    """Re-initialize ``model``'s parameters in place (module doc)."""
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            std = STD / math.sqrt(2 * depth) if name.endswith(RESIDUAL_OUTPUTS) else STD
            nn.init.normal_(p, std=std)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
        else:
            nn.init.ones_(p)
