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

from prodint.checks import check_float, check_layer_options, check_parameter_memory
from prodint.interaction import Expr, Signal
from prodint.interaction.library import head_projection, tensor_interaction_of
from prodint.nn.dtn.checks import (
    accumulation_dtype,
    check_bool,
    check_expression_input,
    check_heads,
)
from prodint.nn.dtn.heads import MultiHeadOperator, merged_projection
from prodint.ops.checks import check_eps
from prodint.ops.tensor_interaction import TensorInteractionState, tensor_interaction

__all__ = ["TensorInteraction", "tensor_interaction_expression"]


def tensor_interaction_expression(x: Expr, width: int, heads: int, *, causal: bool = True,
                                  eps: float = 1e-6, prefix: str = "") -> Expr:
    """The layer's expression on ``x[t, m]``, parameters ``<prefix>Wq``, ``Wk``, ``Wv``
    (``[m, p]``) and ``Wo`` (``[p, m]``); value ``[t, m]``.

    Raises:
        TypeError: ``x`` not an expression, ``prefix`` not a str, a size not an int,
            ``causal`` not a bool, ``eps`` not a real number.
        ValueError: ``x`` without the axis ``m`` of size ``width``, a size below 1, ``heads``
            not dividing ``width``, ``eps`` not positive and finite.
    """
    d = check_heads(width, heads)
    check_expression_input(x, prefix, width)
    check_bool(causal=causal)
    check_float(eps, "eps", minimum=0.0, strict_minimum=True)
    q, k, v = (head_projection(x, prefix + name, heads, d, axis="m")
               for name in ("Wq", "Wk", "Wv"))
    o = tensor_interaction_of(q, k, v, causal=causal, eps=eps)  # [t, h, d]
    return merged_projection(o, prefix + "Wo", width, "d")


class TensorInteraction(MultiHeadOperator[TensorInteractionState]):
    """Multi-head tensor interaction on ``[B, T, width]`` (order 5; module doc).

    Args:
        width: model width, split into ``heads`` heads of ``width / heads``.
        heads: number of heads.
        causal: use the prefix matrices ``M_t`` (``prefill`` and ``step`` need it).
        chunk_size: chunk length of the chunked form.
        eps: floor of ``‖M‖_F²`` (positive, at least the smallest normal number of the
            dtype the operator runs in).
        device, dtype, generator: where the parameters live, their dtype, the random draws
            (in half precision the operator runs in float32).

    Raises:
        TypeError: a size that is not an int, ``causal`` not a bool, ``eps`` not a real
            number, a ``device``/``dtype``/``generator`` of the wrong kind.
        ValueError: a size below 1, ``heads`` not dividing ``width``, ``eps`` out of range,
            parameters that would not fit in memory, a device this machine does not have.

    ``forward(x, mode=...)`` runs :func:`~prodint.ops.tensor_interaction.tensor_interaction`,
    ``oracle`` its naive form (every ``M_t`` formed); ``prefill`` and ``step`` carry the state
    ``M_t`` (:class:`~prodint.nn.dtn.heads.MultiHeadOperator`).

    Initialisation: every matrix ``N(0, 1/width)`` (the expression's draw). The output is
    bounded by the value: ``‖v M Mᵀ‖ ≤ ‖v‖ σ_max(M)² ≤ ‖v‖ ‖M‖_F²``.
    """

    def __init__(self, width: int, heads: int, *, causal: bool = True, chunk_size: int = 64,
                 eps: float = 1e-6, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_layer_options(device, dtype, generator)
        self.head_dim = check_heads(width, heads, chunk_size=chunk_size)
        check_bool(causal=causal)
        check_eps(eps, accumulation_dtype(dtype))
        check_parameter_memory(4 * width * width, "width", dtype, what="Wq, Wk, Wv and Wo")
        self.width, self.heads = width, heads
        self.causal, self.chunk_size, self.eps = causal, chunk_size, eps
        x = Signal("X", [("t", None), ("m", width)])
        super().__init__(self.expression_on(x, ""), device=device, dtype=dtype,
                         generator=generator)

    state_type = TensorInteractionState

    def expression_on(self, x: Expr, prefix: str) -> Expr:
        """The expression on the input ``x[t, m]``, parameter names prefixed by ``prefix``."""
        return tensor_interaction_expression(x, self.width, self.heads, causal=self.causal,
                                             eps=self.eps, prefix=prefix)

    def _operate(self, q: Tensor, k: Tensor, v: Tensor, mode: str,
                 state: TensorInteractionState | None, keep_state: bool
                 ) -> tuple[Tensor, TensorInteractionState | None]:
        return tensor_interaction(q, k, v, causal=self.causal, mode=mode,
                                  chunk_size=self.chunk_size, eps=self.eps,
                                  initial_state=state, output_final_state=keep_state)
