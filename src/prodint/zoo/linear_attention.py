"""Multi-head linear attention ``o_t = Σ_{s(≤t)} (q_t · k_s) v_s``, order 3.

``LinearAttention(x)`` for ``x [B, T, width]``: ``Q = X Wqᵀ``, ``K = X Wkᵀ``, ``V = X Wvᵀ``
split into ``H`` heads of ``d = width / H``, per head ``o_t = Σ_{s ≤ t} (q_t·k_s) v_s`` (every
``s`` when non-causal), heads merged and projected by ``Wo``. Without a softmax the attention
matrix factorises: the operator :func:`~prodint.ops.linear_attention` computes it chunk by
chunk with a carried ``d × d`` state (non-causal ``Q (Kᵀ V)``), in ``O(T d²)`` instead of
``O(T² d)``.

The layer contract (:class:`~prodint.interaction.layer.InteractionLayer`): ``forward`` runs
the operator in ``mode``; :meth:`general` and :meth:`reference` run the expression (the masked
``T × T`` product, compiled and node by node); :meth:`oracle` runs the operator's naive form.
Causal layers stream: :meth:`prefill` reads a prompt in parallel and returns the
:class:`~prodint.ops.LinearAttentionState` after it, :meth:`step` advances one token; prefill
then steps equal ``forward`` on the whole sequence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.checks import (
    check_bool,
    check_choice,
    check_int,
    check_layer_options,
    check_parameter_memory,
)
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
from prodint.ops.checks import check_tokens
from prodint.ops.linear_attention import (
    MODES,
    LinearAttentionState,
    linear_attention,
    linear_attention_step,
)


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

    Parameters ``Wq, Wk, Wv, Wo: [width, width]`` in torch's ``[out, in]`` layout, drawn
    ``U(±1/√width)`` as torch's ``Linear`` does (:meth:`reset_parameters`).

    Args:
        width: model width (split into ``heads`` heads).
        heads: number of heads.
        causal: restrict each position to itself and earlier ones (needed to stream).
        mode: the operator's form used by ``forward`` (``naive``, ``chunk``, ``recurrent``;
            recurrent is causal only).
        chunk_size: chunk length of the chunked form.
        device, dtype, generator: where the parameters live, their dtype, the random draws.

    Raises:
        TypeError: a size that is not an int, a flag that is not a bool, a bad option; an
            input that is not a tensor of the layer's dtype.
        ValueError: a size below 1, ``heads`` not dividing ``width``, an unknown or
            non-causal recurrent ``mode``, parameters that would not fit in memory; an input
            of another shape or device.
    """

    def __init__(self, width: int, heads: int, *, causal: bool = True, mode: str = "chunk",
                 chunk_size: int = 64, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        for name, value in (("width", width), ("heads", heads), ("chunk_size", chunk_size)):
            check_int(value, name, minimum=1)
        if width % heads:
            raise ValueError(f"heads: expected a divisor of width={width}, received {heads}")
        check_bool(causal, "causal")
        check_choice(mode, "mode", MODES)
        check_layer_options(device, dtype, generator)
        check_parameter_memory(4 * width * width, "width", dtype)
        if mode == "recurrent" and not causal:
            raise ValueError("mode: expected 'naive' or 'chunk' for causal=False (the "
                             "recurrent form is causal), received 'recurrent'")
        super().__init__(linear_attention_expression(width, heads, causal), device=device,
                         dtype=dtype, generator=generator)
        self.width, self.heads, self.head_dim = width, heads, width // heads
        self.causal, self.mode, self.chunk_size = causal, mode, chunk_size

    # ------------------------------------------------------------- helpers

    def _streaming(self, method: str) -> None:
        if not self.causal:
            raise ValueError(f"{method}: expected a causal layer (causal=True) to stream, "
                             "received causal=False")

    def _heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``q, k, v`` as ``[..., H, d]`` from ``x [..., width]``."""
        return tuple(F.linear(x, self.param(n)).unflatten(-1, (self.heads, self.head_dim))
                     for n in ("Wq", "Wk", "Wv"))  # type: ignore[return-value]

    def _output(self, o: Tensor) -> Tensor:
        return F.linear(o.flatten(-2), self.param("Wo"))

    def _run(self, x: Tensor, mode: str, keep_state: bool
             ) -> tuple[Tensor, LinearAttentionState | None]:
        q, k, v = self._heads(check_tokens(x, 3, self.width, self.param("Wq")))
        o, state = linear_attention(q, k, v, causal=self.causal, mode=mode,
                                    chunk_size=self.chunk_size, output_final_state=keep_state)
        return self._output(o), state

    # ------------------------------------------------------------- the contract
    def forward(self, x: Tensor) -> Tensor:
        """``[B, T, width] → [B, T, width]`` by the operator in ``mode``."""
        return self._run(x, self.mode, False)[0]

    def oracle(self, x: Tensor) -> Tensor:
        """The operator's naive form (the masked ``T × T`` product written as matrices)."""
        return self._run(x, "naive", False)[0]

    def prefill(self, x: Tensor) -> tuple[Tensor, LinearAttentionState]:
        """:meth:`forward` on a prompt ``[B, T, width]`` (chunked) and the state after its
        last token, from which :meth:`step` continues (causal layers only)."""
        self._streaming("prefill")
        y, state = self._run(x, "chunk", True)
        assert state is not None
        return y, state

    def step(self, x_t: Tensor, state: LinearAttentionState | None = None
             ) -> tuple[Tensor, LinearAttentionState]:
        """One token ``x_t [B, width] → (y_t [B, width], new state)`` (causal layers only).

        ``state`` is the :class:`~prodint.ops.LinearAttentionState` before the token (zeros
        when ``None``); feeding a sequence token by token gives ``forward``'s outputs.
        """
        self._streaming("step")
        q, k, v = self._heads(check_tokens(x_t, 2, self.width, self.param("Wq")))
        o, state = linear_attention_step(q, k, v, state)
        return self._output(o), state

    def extra_repr(self) -> str:
        return (f"width={self.width}, heads={self.heads}, causal={self.causal}, "
                f"mode={self.mode!r}, {super().extra_repr()}")
