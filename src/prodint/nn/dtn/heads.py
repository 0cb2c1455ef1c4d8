"""What the DTN layers on tokens share: checked executions, heads, streaming.

- :class:`TokenLayer`: an :class:`~prodint.interaction.layer.InteractionLayer` on the residual
  stream ``x [B, T, width]`` (its expression's signal ``X[t, m]``); :meth:`~TokenLayer.general`
  and :meth:`~TokenLayer.reference` check ``x`` and run the expression. The DTN block is one.
- :class:`MultiHeadOperator`: a token layer that projects ``x`` to ``heads`` heads
  ``q, k, v = x Wq, x Wk, x Wv`` (``[B, T, H, width/H]``, the split of
  :func:`~prodint.interaction.library.head_projection`), runs one sequence operator of
  :mod:`prodint.ops` on them and projects the merged heads back with ``Wo``; it streams with
  ``prefill(x) -> (y, state)`` and ``step(x_t, state) -> (y_t, state)``, the operator's
  chunked and recurrent forms carrying the operator's state. Tensor attention and tensor
  interaction are the two. :func:`merged_projection` states its ``Wo`` step in their
  expressions.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import torch
from torch import Tensor

from prodint.interaction import Expr, MergeAxes, Permute
from prodint.interaction.layer import InteractionLayer
from prodint.interaction.library import projection
from prodint.nn.dtn.checks import HALF, check_state_batch
from prodint.ops.checks import check_tokens

__all__ = ["MultiHeadOperator", "TokenLayer", "merged_projection"]

#: The streaming state of a multi-head operator (the operator's NamedTuple).
State = TypeVar("State")


def merged_projection(o: Expr, name: str, width: int, head_axis: str) -> Expr:
    """The heads ``o[t, h, head_axis]`` merged into ``p = h·head_dim + d`` (undoing the split
    of :func:`~prodint.interaction.library.head_projection`) and projected by the parameter
    ``name [p, m]`` to ``width`` channels: value ``[t, m]``, as :meth:`MultiHeadOperator._merge`
    computes it."""
    merged = MergeAxes(Permute(o, ("t", "h", head_axis)), ["h", head_axis], "p")
    return projection(merged, name, width, axis="p", out_axis="m")


class TokenLayer(InteractionLayer):
    """A layer on ``x [B, T, width]`` whose expression reads ``X[t, m]`` (``m`` of size
    :attr:`width`, set by the subclass)."""

    width: int

    def _tokens(self, x: object, rank: int) -> Tensor:
        """``x`` checked as ``[B, T, width]`` (``rank`` 3) or ``[B, width]`` (``rank`` 2), of
        the dtype and device of the parameters."""
        return check_tokens(x, rank, self.width, like=next(iter(self.params.values())))

    def general(self, x: Tensor) -> Tensor:
        """The compiled expression on ``x [B, T, width]``."""
        return self.run_plan(self._tokens(x, 3))

    def reference(self, x: Tensor) -> Tensor:
        """The expression evaluated node by node on ``x [B, T, width]``."""
        return self.run_reference(self._tokens(x, 3))


class MultiHeadOperator(TokenLayer, Generic[State]):
    """Heads of ``x``, a sequence operator on them, ``Wo`` on the merged output (module doc).

    A subclass sets :attr:`width`, :attr:`heads`, :attr:`head_dim` and :attr:`causal`, holds
    the parameters ``Wq``, ``Wk``, ``Wv`` (``[width, width]``) and ``Wo`` and implements
    :meth:`_operate`: the operator on ``q, k, v [B, T, H, head_dim]`` in a ``mode`` of
    :mod:`prodint.ops`, from a state, returning its output heads ``[B, T, H, D_v]`` and the
    final state when asked. :meth:`_merge` maps those heads to ``[B, T, width]``.

    With parameters in half precision (float16, bfloat16) the operator runs in float32 on
    ``q, k, v`` cast up, and its state stays in float32 (its sums over the sequence overflow
    half precision on ordinary inputs); :meth:`_merge` casts back before ``Wo``.
    """

    heads: int
    head_dim: int
    causal: bool
    #: the operator's state type (checked in :meth:`step`)
    state_type: type

    def _operate(self, q: Tensor, k: Tensor, v: Tensor, mode: str, state: State | None,
                 keep_state: bool) -> tuple[Tensor, State | None]:
        raise NotImplementedError

    def _merge(self, o: Tensor) -> Tensor:
        """Heads ``[B, T, H, D_v]`` → ``[B, T, width]``: merged, then ``Wo`` (in the
        parameters' dtype)."""
        wo = self.params["Wo"]
        merged = o.flatten(-2)
        if merged.dtype != wo.dtype:  # half-precision parameters: the operator ran in float32
            cast = merged.to(wo.dtype)
            if not bool(torch.isfinite(cast).all()) and bool(torch.isfinite(merged).all()):
                raise ValueError(f"x: expected an input whose heads' output fits in {wo.dtype}, "
                                 f"received one whose output reaches "
                                 f"{float(merged.abs().max()):.3g} (normalise the output or "
                                 f"use float32 parameters)")
            merged = cast
        return merged @ wo

    def _run(self, x: Tensor, mode: str, state: State | None,
             keep_state: bool) -> tuple[Tensor, State | None]:
        q, k, v = ((x @ self.params[name]).unflatten(-1, (self.heads, self.head_dim))
                   for name in ("Wq", "Wk", "Wv"))
        if x.dtype in HALF:
            q, k, v = q.float(), k.float(), v.float()
        o, new = self._operate(q, k, v, mode, state, keep_state)
        return self._merge(o).to(x.dtype), new

    def forward(self, x: Tensor, *, mode: str = "chunk") -> Tensor:
        """``[B, T, width] → [B, T, width]``; ``mode`` one of the operator's forms
        (``"naive"``, ``"chunk"``, ``"recurrent"``)."""
        return self._run(self._tokens(x, 3), mode, None, False)[0]

    def oracle(self, x: Tensor) -> Tensor:
        """The operator's naive form (:meth:`forward` with ``mode="naive"``)."""
        return self(x, mode="naive")

    def _check_causal(self, method: str) -> None:
        if not self.causal:
            raise ValueError(f"{method}: expected a causal layer (causal=True) to stream, "
                             "received causal=False")

    def prefill(self, x: Tensor) -> tuple[Tensor, State]:
        """:meth:`forward` (chunked) and the operator's state after the last token, from
        which :meth:`step` continues."""
        self._check_causal("prefill")
        y, state = self._run(self._tokens(x, 3), "chunk", None, True)
        assert state is not None
        return y, state

    def step(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One token ``[B, width]`` with the carried state (``None`` before the first);
        equals :meth:`forward` row by row."""
        self._check_causal("step")
        x = self._tokens(x, 2)
        if state is not None and not isinstance(state, self.state_type):
            raise TypeError(f"state: expected a {self.state_type.__name__} or None, received "
                            f"{type(state).__name__}")
        check_state_batch(state, x.shape[0], "x_t")
        y, new = self._run(x.unsqueeze(1), "recurrent", state, True)
        assert new is not None
        return y[:, 0], new
