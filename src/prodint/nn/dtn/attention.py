"""Multi-head second-order tensor attention as a layer: decay and normalisation in the expression.

``Q = X Wq``, ``K = X Wk``, ``V = X Wv`` are split into ``heads`` heads of ``d = width/heads``;
each head computes (:func:`~prodint.interaction.library.tensor_attention_of`)::

    o_t = Σ_{i ≤ j ≤ t} γ^{(t-i)+(t-j)} (q_t·k_i)(q_j·k_i) v_j     (causal, decay γ)
    O   = Q (KᵀK)(QᵀV)                                            (non-causal)

optionally divided by the same sum with ``v = 1`` through the signed guard
(``normalize``), optionally RMS-normalised over the head's channels (``output_norm``); the
heads are merged and projected by ``Wo``. Every option is part of the expression, so
``forward`` (the chunked and recurrent kernels of :mod:`prodint.ops.tensor_attention`),
``general`` (the compiled expression) and ``reference`` (node by node) agree for all of
them. Order 5.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from prodint.checks import check_float, check_layer_options, check_parameter_memory
from prodint.interaction import Expr, Pointwise, Signal
from prodint.interaction.library import head_projection, tensor_attention_of
from prodint.nn.dtn.checks import (
    accumulation_dtype,
    check_bool,
    check_decay,
    check_expression_input,
    check_heads,
)
from prodint.nn.dtn.heads import MultiHeadOperator, merged_projection
from prodint.ops.checks import check_eps
from prodint.ops.tensor_attention import TensorAttentionState, tensor_attention

__all__ = ["TensorAttention", "tensor_attention_expression"]

#: ``eps`` of the per-head RMS norm, ``o / sqrt(mean(o²) + eps)``.
RMS_EPS = 1e-6


def tensor_attention_expression(x: Expr, width: int, heads: int, *, causal: bool = True,
                                decay: float | None = None, normalize: bool = False,
                                output_norm: bool = True, eps: float = 1e-6,
                                prefix: str = "") -> Expr:
    """The layer's expression on ``x[t, m]`` (``m`` of size ``width``), parameters
    ``<prefix>Wq``, ``Wk``, ``Wv`` (``[m, p]``) and ``Wo`` (``[p, m]``); value ``[t, m]``.

    Raises:
        TypeError: ``x`` not an expression, ``prefix`` not a str, a size not an int, a flag
            not a bool, ``decay`` or ``eps`` not a real number.
        ValueError: ``x`` without the axis ``m`` of size ``width``, a size below 1, ``heads``
            not dividing ``width``, ``decay`` outside ``(0, 1]`` (or with ``causal=False``),
            ``eps`` not positive and finite.
    """
    d = check_heads(width, heads)
    check_expression_input(x, prefix, width)
    check_bool(normalize=normalize, output_norm=output_norm)
    decay = check_decay(decay, causal)
    check_float(eps, "eps", minimum=0.0, strict_minimum=True)
    q, k = (head_projection(x, prefix + name, heads, d, axis="m") for name in ("Wq", "Wk"))
    v = head_projection(x, prefix + "Wv", heads, d, axis="m", head_axis="e")
    o = tensor_attention_of(q, k, v, causal=causal, decay=decay, normalize=normalize,
                            eps=eps)  # [t, h, e]
    if output_norm:
        o = Pointwise("rmsnorm", o, "e", eps=RMS_EPS)
    return merged_projection(o, prefix + "Wo", width, "e")


class TensorAttention(MultiHeadOperator[TensorAttentionState]):
    """Multi-head tensor attention on ``[B, T, width]`` (order 5; module doc).

    Args:
        width: model width, split into ``heads`` heads of ``width / heads``.
        heads: number of heads.
        causal: mask to ``i ≤ j ≤ t`` (``prefill`` and ``step`` need it).
        normalize: divide by the guarded normaliser ``q_tᵀ(S_t m_t − h_t)``
            (:mod:`prodint.ops.tensor_attention.common`), which can cross zero.
        decay: ``γ ∈ (0, 1]`` (causal only; ``None`` for none).
        chunk_size: chunk length of the chunked form.
        output_norm: RMS-normalise each head's output over its channels,
            ``o ↦ o / sqrt(mean(o²) + 1e-6)``, before ``Wo`` (no parameters). The raw output
            grows like the square of the context (a double sum over ``i ≤ j ≤ t``) and the
            operator's own normaliser can cross zero, so the normalised output is the stable
            choice for training; it keeps the layer scale-free in the position, as group norms
            do for linear attention.
        eps: the normaliser's guard (positive, at least the smallest normal number of the
            dtype the operator runs in).
        device, dtype, generator: where the parameters live, their dtype, the random draws.
            In half precision the operator and the RMS norm run in float32
            (:class:`~prodint.nn.dtn.heads.MultiHeadOperator`).

    Raises:
        TypeError: a size that is not an int, a flag that is not a bool, a ``decay`` or
            ``eps`` that is not a real number, a ``device``/``dtype``/``generator`` of the
            wrong kind.
        ValueError: a size below 1, ``heads`` not dividing ``width``, ``decay`` outside
            ``(0, 1]`` or with ``causal=False``, ``eps`` out of range, parameters that would
            not fit in memory, a device this machine does not have.

    ``forward(x, mode=...)`` runs :func:`~prodint.ops.tensor_attention.tensor_attention`,
    ``oracle`` its naive ``T × T`` form (:mod:`prodint.ops.tensor_attention.naive`);
    ``prefill`` and ``step`` carry a :class:`~prodint.ops.tensor_attention.TensorAttentionState`
    (:class:`~prodint.nn.dtn.heads.MultiHeadOperator`).

    Initialisation (:meth:`reset_parameters`): ``Wv, Wo ~ N(0, 1/width)`` (the expression's
    variance-preserving draw) and ``Wq, Wk ~ N(0, 1/(width·d))``: each ``q·k`` enters twice
    (``(q_t·k_i)(q_j·k_i)``), and the ``1/√d`` on both keeps a head's products of order one,
    as ``1/√d`` does for softmax attention's scores.
    """

    def __init__(self, width: int, heads: int, *, causal: bool = True, normalize: bool = False,
                 decay: float | None = None, chunk_size: int = 64, output_norm: bool = True,
                 eps: float = 1e-6, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_layer_options(device, dtype, generator)
        self.head_dim = check_heads(width, heads, chunk_size=chunk_size)
        check_bool(normalize=normalize, output_norm=output_norm)
        decay = check_decay(decay, causal)
        check_eps(eps, accumulation_dtype(dtype))
        check_parameter_memory(4 * width * width, "width", dtype, what="Wq, Wk, Wv and Wo")
        self.width, self.heads = width, heads
        self.causal, self.normalize, self.decay = causal, normalize, decay
        self.chunk_size, self.output_norm, self.eps = chunk_size, output_norm, eps
        x = Signal("X", [("t", None), ("m", width)])
        super().__init__(self.expression_on(x, ""), device=device, dtype=dtype,
                         generator=generator)
        self.reset_parameters()

    state_type = TensorAttentionState

    def expression_on(self, x: Expr, prefix: str) -> Expr:
        """The expression on the input ``x[t, m]``, parameter names prefixed by ``prefix``."""
        return tensor_attention_expression(
            x, self.width, self.heads, causal=self.causal, decay=self.decay,
            normalize=self.normalize, output_norm=self.output_norm, eps=self.eps,
            prefix=prefix)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The expression's draws, then ``Wq, Wk`` scaled by ``1/√d`` (class doc)."""
        super().reset_parameters()
        for name in ("Wq", "Wk"):
            self.params[name].mul_(1.0 / math.sqrt(self.head_dim))

    def _operate(self, q: Tensor, k: Tensor, v: Tensor, mode: str,
                 state: TensorAttentionState | None, keep_state: bool
                 ) -> tuple[Tensor, TensorAttentionState | None]:
        return tensor_attention(q, k, v, causal=self.causal, mode=mode,
                                chunk_size=self.chunk_size, normalize=self.normalize,
                                decay=self.decay, eps=self.eps, initial_state=state,
                                output_final_state=keep_state)

    def _merge(self, o: Tensor) -> Tensor:
        """Heads ``[B, T, H, Dv]`` → ``[B, T, width]``: optional RMS norm, merge, ``Wo``."""
        if self.output_norm:
            o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + RMS_EPS)
        return super()._merge(o)
