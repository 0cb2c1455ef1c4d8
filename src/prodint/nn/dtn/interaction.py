"""Multi-head tensor interaction as a layer: channels mixed by ``M = QᵀK`` (order 5).

``Q = X Wq``, ``K = X Wk``, ``V = X Wv`` are split into ``heads`` heads of ``d = width/heads``;
each head computes (:func:`~prodint.interaction.library.tensor_interaction_of`)::

    o_t = v_t M_t M_tᵀ / max(‖M_t‖_F², eps),   M_t = Σ_{i ≤ t} q_i k_iᵀ   (causal)
    O   = V M Mᵀ / max(‖M‖_F², eps),            M = QᵀK                   (non-causal)

and the heads are merged and projected by ``Wo``. ``forward`` runs the kernels of
:mod:`prodint.ops.tensor_interaction`; ``general`` and ``reference`` the expression.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.interaction import Expr, MergeAxes, Permute, Signal
from prodint.interaction.layer import InteractionLayer
from prodint.interaction.library import head_projection, projection, tensor_interaction_of
from prodint.nn.dtn.checks import check_positive, check_tokens
from prodint.ops.tensor_interaction import TensorInteractionState, tensor_interaction

__all__ = ["TensorInteraction", "tensor_interaction_expression"]


def tensor_interaction_expression(x: Expr, width: int, heads: int, *, causal: bool = True,
                                  eps: float = 1e-6, prefix: str = "") -> Expr:
    """The layer's expression on ``x[t, m]``, parameters ``<prefix>Wq``, ``Wk``, ``Wv``
    (``[m, p]``) and ``Wo`` (``[p, m]``); value ``[t, m]``."""
    d = width // heads
    q, k, v = (head_projection(x, prefix + name, heads, d, axis="m")
               for name in ("Wq", "Wk", "Wv"))
    o = tensor_interaction_of(q, k, v, causal=causal, eps=eps)  # [t, h, d]
    merged = MergeAxes(Permute(o, ("t", "h", "d")), ["h", "d"], "p")
    return projection(merged, prefix + "Wo", width, axis="p", out_axis="m")


class TensorInteraction(InteractionLayer):
    """Multi-head tensor interaction on ``[B, T, width]`` (order 5; module doc).

    Args:
        width: model width, split into ``heads`` heads of ``width / heads``.
        heads: number of heads.
        causal: use the prefix matrices ``M_t`` (``prefill`` and ``step`` need it).
        chunk_size: chunk length of the chunked form.
        eps: floor of ``‖M‖_F²``.
        device, dtype, generator: where the parameters live, their dtype, the random draws.

    Initialisation: every matrix ``N(0, 1/width)`` (the expression's draw). The output is
    bounded by the value: ``‖v M Mᵀ‖ ≤ ‖v‖ σ_max(M)² ≤ ‖v‖ ‖M‖_F²``.
    """

    def __init__(self, width: int, heads: int, *, causal: bool = True, chunk_size: int = 64,
                 eps: float = 1e-6, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_positive(width=width, heads=heads, chunk_size=chunk_size)
        if width % heads:
            raise ValueError(f"heads: expected a divisor of width={width}, received {heads}")
        if not isinstance(causal, bool):
            raise TypeError(f"causal: expected a bool, received {type(causal).__name__}")
        self.width, self.heads, self.head_dim = width, heads, width // heads
        self.causal, self.chunk_size, self.eps = causal, chunk_size, eps
        x = Signal("X", [("t", None), ("m", width)])
        super().__init__(self.expression_on(x, ""), device=device, dtype=dtype,
                         generator=generator)

    def expression_on(self, x: Expr, prefix: str) -> Expr:
        """The expression on the input ``x[t, m]``, parameter names prefixed by ``prefix``."""
        return tensor_interaction_expression(x, self.width, self.heads, causal=self.causal,
                                             eps=self.eps, prefix=prefix)

    def _mix(self, x: Tensor, mode: str, state: TensorInteractionState | None,
             keep_state: bool) -> tuple[Tensor, TensorInteractionState | None]:
        q, k, v = ((x @ self.params[n]).unflatten(-1, (self.heads, self.head_dim))
                   for n in ("Wq", "Wk", "Wv"))
        o, new = tensor_interaction(q, k, v, causal=self.causal, mode=mode,
                                    chunk_size=self.chunk_size, eps=self.eps,
                                    initial_state=state, output_final_state=keep_state)
        return o.flatten(-2) @ self.params["Wo"], new

    def forward(self, x: Tensor, *, mode: str = "chunk") -> Tensor:
        """``[B, T, width] → [B, T, width]``; ``mode`` as in
        :func:`~prodint.ops.tensor_interaction.tensor_interaction`."""
        check_tokens(x, 3, self.width)
        return self._mix(x, mode, None, False)[0]

    def general(self, x: Tensor) -> Tensor:
        """The compiled expression on ``x [B, T, width]``."""
        check_tokens(x, 3, self.width)
        return self.run_plan(x)

    def reference(self, x: Tensor) -> Tensor:
        """The expression evaluated node by node on ``x [B, T, width]``."""
        check_tokens(x, 3, self.width)
        return self.run_reference(x)

    def oracle(self, x: Tensor) -> Tensor:
        """The operator's naive form (every ``M_t`` formed)."""
        return self(x, mode="naive")

    def _check_causal(self, method: str) -> None:
        if not self.causal:
            raise ValueError(f"{method}: expected a causal layer (causal=True) to stream, "
                             "received causal=False")

    def prefill(self, x: Tensor) -> tuple[Tensor, TensorInteractionState]:
        """:meth:`forward` (chunked) and the state ``M_T`` from which :meth:`step` continues."""
        self._check_causal("prefill")
        check_tokens(x, 3, self.width)
        y, state = self._mix(x, "chunk", None, True)
        assert state is not None
        return y, state

    def step(self, x: Tensor, state: TensorInteractionState | None = None
             ) -> tuple[Tensor, TensorInteractionState]:
        """One token ``[B, width]`` with the carried state (``None`` before the first)."""
        self._check_causal("step")
        check_tokens(x, 2, self.width)
        y, new = self._mix(x.unsqueeze(1), "recurrent", state, True)
        assert new is not None
        return y[:, 0], new
