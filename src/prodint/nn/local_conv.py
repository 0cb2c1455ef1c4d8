"""A short causal depthwise convolution: the order information of the language models.

Neither :class:`~prodint.nn.dtn.DTN` nor :class:`~prodint.nn.softmax_lm.SoftmaxLM` has
positional embeddings (they would bound the context at the trained length), and causal
attention alone hardly tells the previous character from any earlier one. Both models
therefore mix each token with its ``kernel − 1`` predecessors before their token mixer, as
Mamba and H3 do: ``y_t = u_t + Σ_{j<kernel} w_j ⊙ u_{t−j}`` with ``u_{t<0} = 0`` and
per-channel weights ``w: [width, kernel]`` (the residual form keeps ``y ≈ u`` at a small
initialization). It is an order-1 product over the truncated-polynomial (causal) algebra,
and streams with a state of the last ``kernel − 1`` inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CausalConv"]


class CausalConv(nn.Module):
    """``[B, T, width] → [B, T, width]``, ``y_t = u_t + Σ_j w[:, j] ⊙ u_{t−j}`` (module doc).

    Args:
        width: channels (one filter each).
        kernel: taps, the current input and ``kernel − 1`` predecessors.
        device, dtype: where the weight lives and its dtype.
    """

    #: standard deviation of the initial taps: small, so that ``y ≈ u`` at the start
    STD = 0.02

    def __init__(self, width: int, kernel: int = 4, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        for name, value in (("width", width), ("kernel", kernel)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive int, received {value}")
        self.width, self.kernel = width, kernel
        self.weight = nn.Parameter(torch.empty(width, kernel, device=device, dtype=dtype))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Taps ``w ~ N(0, STD²)`` (:attr:`STD`)."""
        nn.init.normal_(self.weight, std=self.STD)

    def forward(self, u: Tensor) -> Tensor:
        # conv1d correlates: tap k - 1 - j of the flipped kernel meets u_{t-j}
        padded = F.pad(u.transpose(1, 2), (self.kernel - 1, 0))
        mixed = F.conv1d(padded, self.weight.flip(-1).unsqueeze(1), groups=self.width)
        return u + mixed.transpose(1, 2)

    def prefill(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`forward` and the state ``[B, kernel − 1, width]`` (the last inputs)."""
        past = F.pad(u, (0, 0, self.kernel - 1, 0))[:, u.shape[1]:]
        return self(u), past

    def step(self, u: Tensor, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """One input ``[B, width]`` with the last ``kernel − 1`` inputs (``None``: zeros)."""
        if state is None:
            state = u.new_zeros(u.shape[0], self.kernel - 1, self.width)
        window = torch.cat([state, u.unsqueeze(1)], 1)  # u_{t-k+1} … u_t
        y = u + (window * self.weight.flip(-1).T).sum(1)
        return y, window[:, 1:]
