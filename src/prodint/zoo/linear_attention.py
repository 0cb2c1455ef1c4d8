"""Multi-head linear attention ``o_t = Σ_{s(≤t)} (q_t · k_s) v_s``, order 3.

Without a softmax the attention matrix factorises: non-causal ``O = Q (Kᵀ V)`` costs
``O(T d²)`` instead of ``O(T² d)``; causal attention is computed chunk by chunk, with the
``d × d`` state ``S = Σ_s k_s v_sᵀ`` of earlier chunks carried across:
``O_c = Q_c S + [(Q_c K_cᵀ) ⊙ L] V_c``, ``S ← S + K_cᵀ V_c`` (``L`` inclusive lower triangle).
:meth:`general` runs the expression (the masked ``T × T`` product).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.interaction import (
    CausalMask,
    Contract,
    Expr,
    MergeAxes,
    Permute,
    Rename,
    Signal,
)
from prodint.interaction.layer import InteractionLayer
from prodint.interaction.library import head_projection, projection


def linear_attention_expression(width: int, heads: int, causal: bool) -> Expr:
    """``Wo · merge_h(Σ_s mask(Q_h K_hᵀ) V_h)`` over ``X[t, m]``."""
    d = width // heads
    x = Signal("X", [("t", None), ("m", width)])

    def heads_of(name: str, axis: str) -> Expr:
        return head_projection(x, name, heads, d, axis="m", head_axis=axis, torch_layout=True)

    q = heads_of("Wq", "d")
    k = Rename(heads_of("Wk", "d"), {"t": "s"})
    v = Rename(heads_of("Wv", "e"), {"t": "s"})
    scores: Expr = Contract(q, k, over="d")  # [t, h, s]
    if causal:
        scores = CausalMask(scores, "t", "s")
    mixed = Permute(Contract(scores, v, over="s"), ("t", "h", "e"))
    return Rename(projection(MergeAxes(mixed, ["h", "e"], "p"), "Wo", width, axis="p",
                             out_axis="o", torch_layout=True),
                  {"o": "m"})


class LinearAttention(InteractionLayer):
    """Multi-head linear attention on ``[B, T, width]`` (no softmax, no feature map).

    Args:
        width: model width (split into ``heads`` heads).
        heads: number of heads.
        causal: restrict each position to itself and earlier ones.
        chunk_size: chunk length of the causal fast path.
    """

    def __init__(self, width: int, heads: int, *, causal: bool = True,
                 chunk_size: int = 64) -> None:
        if width % heads:
            raise ValueError(f"heads: expected a divisor of width={width}, received {heads}")
        super().__init__(linear_attention_expression(width, heads, causal))
        self.width, self.heads, self.causal, self.chunk_size = width, heads, causal, chunk_size

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.width:
            raise ValueError(f"x: expected [B, T, {self.width}], received {tuple(x.shape)}")
        b, t, _ = x.shape
        d = self.width // self.heads

        def split(name: str) -> Tensor:
            return F.linear(x, self.param(name)).view(b, t, self.heads, d).transpose(1, 2)

        q, k, v = split("Wq"), split("Wk"), split("Wv")  # [B, H, T, d]
        if self.causal:
            o = _causal_chunks(q, k, v, self.chunk_size)
        else:
            o = q @ (k.transpose(-1, -2) @ v)
        return F.linear(o.transpose(1, 2).reshape(b, t, self.width), self.param("Wo"))


def _causal_chunks(q: Tensor, k: Tensor, v: Tensor, chunk: int) -> Tensor:
    """Causal ``Σ_{s≤t} (q_t·k_s) v_s`` chunk by chunk with a carried ``d × d`` state."""
    t = q.shape[-2]
    state = q.new_zeros(*q.shape[:-2], q.shape[-1], v.shape[-1])
    outs = []
    for start in range(0, t, chunk):
        qc, kc, vc = (z[..., start:start + chunk, :] for z in (q, k, v))
        n = qc.shape[-2]
        mask = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        local = (qc @ kc.transpose(-1, -2)).masked_fill(~mask, 0.0) @ vc
        outs.append(qc @ state + local)
        state = state + kc.transpose(-1, -2) @ vc
    return torch.cat(outs, -2)
