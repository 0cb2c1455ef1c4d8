"""Shared definitions of tensor attention: the state, argument checks, the normaliser guard.

Causal second-order tensor attention (per batch and head, rows ``q_t, k_t ∈ R^d``,
``v_t ∈ R^{d_v}``, optional decay ``γ ∈ (0, 1]``)::

    o_t = Σ_{i ≤ j ≤ t} γ^{(t-i)+(t-j)} (q_t·k_i)(q_j·k_i) v_j

Streaming form with ``O(d² + d·d_v)`` state (``C_{t-1}`` is the state before step ``t``)::

    S_t = γ S_{t-1} + k_t k_tᵀ
    C_t = γ C_{t-1} + q_t v_tᵀ
    G_t = γ² G_{t-1} + γ k_t (k_tᵀ C_{t-1})
    o_t = (q_tᵀ S_t) C_t − q_tᵀ G_t

``q_tᵀ S_t C_t`` counts every pair ``(i, j)`` with ``i, j ≤ t`` and ``q_tᵀ G_t`` removes those
with ``j < i``; ``G`` decays by ``γ²`` because its terms carry two decaying factors.

With ``normalize=True`` the output is divided by the same sum with ``v_j`` replaced by 1,
``n_t = Σ_{i≤j≤t} γ^{(t-i)+(t-j)} (q_t·k_i)(q_j·k_i)``, carried as ``m_t = γ m_{t-1} + q_t``,
``h_t = γ² h_{t-1} + γ k_t (k_tᵀ m_{t-1})``, ``n_t = q_tᵀ(S_t m_t − h_t)``. The normaliser can be
negative or near zero (it is not a sum of positive terms): it is *guarded*, replaced by
``sign(n)·max(|n|, eps)`` (``sign(0) = +1``), which keeps its sign and bounds the output.
:func:`guard` is :func:`~prodint.interaction.normalize.signed_guard`, the guard that the
expression of the same operator states
(:func:`~prodint.interaction.library.tensor_attention_of`), so both divide alike; ``eps`` is
at least the smallest normal number of the dtype, so the guarded normaliser is never zero.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from prodint.checks import check_bool, check_float, check_same_device, check_tensor
from prodint.interaction.normalize import signed_guard
from prodint.ops import checks

MODES = ("naive", "chunk", "recurrent")


class TensorAttentionState(NamedTuple):
    """Streaming state per batch and head.

    With grouped value heads (``v`` of ``HV = g·H`` heads, in the dispatcher
    :func:`~prodint.ops.tensor_attention.tensor_attention`), ``S, m, h`` are kept per
    query/key head and ``C, G`` per value head (``HV`` in place of ``H``); without, ``HV = H``.
    With packed sequences (``cu_seqlens``) the first dim is the sequence ``N`` in place of
    ``B``. :func:`~prodint.ops.tensor_attention.fla.to_fla_state` and
    :func:`~prodint.ops.tensor_attention.fla.from_fla_state` convert it to and from
    flash-linear-attention's ``(S, C, m, G, h)``.

    Attributes:
        S: ``[B, H, D, D]``, ``Σ γ^{t-i} k_i k_iᵀ``.
        C: ``[B, HV, D, Dv]``, ``Σ γ^{t-j} q_j v_jᵀ``.
        G: ``[B, HV, D, Dv]``, the pairs ``j < i`` to remove.
        m: ``[B, H, D]`` normaliser counterpart of ``C`` (only with ``normalize``).
        h: ``[B, H, D]`` normaliser counterpart of ``G`` (only with ``normalize``).
    """

    S: Tensor
    C: Tensor
    G: Tensor
    m: Tensor | None = None
    h: Tensor | None = None


def check_decay(decay: object, causal: bool, heads: int, like: Tensor) -> None:
    """``decay`` as ``None``, a number in ``(0, 1]`` or a ``[H]`` (or scalar) floating tensor of
    such values on the device of ``like``; a decay needs the causal form."""
    if decay is None:
        return
    if isinstance(decay, Tensor):
        d = check_tensor(decay, "decay", rank=(0, 1), layout=f"[H={heads}]")
        check_same_device(q=like, decay=d)
        if d.dim() == 1 and d.shape[0] != heads:
            raise ValueError(f"decay: expected a float or a [H={heads}] tensor (H of q), "
                             f"received shape {tuple(d.shape)}")
        if not bool(((d > 0) & (d <= 1)).all()):
            raise ValueError(f"decay: expected values in (0, 1], received values in "
                             f"[{float(d.min()):g}, {float(d.max()):g}]")
    elif isinstance(decay, (int, float)) and not isinstance(decay, bool):
        check_float(decay, "decay", minimum=0.0, strict_minimum=True, maximum=1.0)
    else:
        raise TypeError(f"decay: expected None, a number in (0, 1] or a [H={heads}] tensor, "
                        f"received {type(decay).__name__}")
    if not causal:
        raise ValueError("decay: expected None for non-causal attention (it has no order "
                         "in time), received a decay")


def check_inputs(q: Tensor, k: Tensor, v: Tensor, *, causal: bool, normalize: bool,
                 decay: float | Tensor | None, eps: float,
                 initial_state: TensorAttentionState | None, output_final_state: bool
                 ) -> tuple[int, int, int, int, int]:
    """Validate a form's arguments (the checks of :mod:`prodint.ops.checks`, the decay, the
    guard's ``eps`` and the state); return ``B, T, H, D, Dv``.

    Raises:
        TypeError: a tensor, a flag or the state of the wrong kind or dtype.
        ValueError: a shape, a device or a value out of range (``decay`` outside ``(0, 1]``,
            ``eps`` not positive and finite in the rows' dtype), or a state without
            ``causal``.
    """
    checks.check_rows(("q", "k", "v"), (q, k, v), "[B, T, H, D]")
    checks.check_causal(causal)
    check_bool(normalize, "normalize")
    checks.check_streaming(causal, initial_state, output_final_state)
    b, t, h, d = q.shape
    dv = v.shape[-1]
    check_decay(decay, causal, h, q)
    checks.check_eps(eps, q.dtype)
    fields = {"S": ("[B, H, D, D]", (b, h, d, d)), "C": ("[B, H, D, Dv]", (b, h, d, dv)),
              "G": ("[B, H, D, Dv]", (b, h, d, dv))}
    if normalize:
        fields |= {"m": ("[B, H, D]", (b, h, d)), "h": ("[B, H, D]", (b, h, d))}
    checks.check_state(initial_state, TensorAttentionState, "initial_state", fields, q,
                       "q, v")
    return b, t, h, d, dv


def decay_per_head(decay: float | Tensor | None, heads: int, like: Tensor) -> Tensor | None:
    """``γ`` as a ``[H, 1, 1]`` tensor (broadcasts over ``[B, H, ·, ·]``) or ``None``."""
    if decay is None:
        return None
    g = torch.as_tensor(decay, dtype=like.dtype, device=like.device)
    return g.expand(heads).reshape(heads, 1, 1)


def guard(den: Tensor, eps: float) -> Tensor:
    """:func:`~prodint.interaction.normalize.signed_guard`, ``sign(den)·max(|den|, eps)``,
    with its arguments checked (``den`` a floating tensor, ``eps`` positive and finite in its
    dtype).

    Raises:
        TypeError: ``den`` is not a floating tensor, or ``eps`` not a real number.
        ValueError: ``eps`` is out of range.
    """
    den = check_tensor(den, "den", dtypes=(torch.float16, torch.bfloat16, *checks.DTYPES))
    return signed_guard(den, checks.check_eps(eps, den.dtype))


def augment(v: Tensor, state: TensorAttentionState | None, normalize: bool) -> \
        tuple[Tensor, Tensor | None, Tensor | None, Tensor | None]:
    """Append a column of ones to ``v`` (and ``m``/``h`` to ``C``/``G``) when normalising.

    The normaliser is the same sum with ``v_j = 1``, so it rides along as an extra value
    column: ``C_aug = [C, m]``, ``G_aug = [G, h]``. Returns ``v_aug, S0, C0_aug, G0_aug``.
    """
    if normalize:
        v = torch.cat([v, v.new_ones(*v.shape[:-1], 1)], -1)  # also for Dv = 0
    if state is None:
        return v, None, None, None
    c0, g0 = state.C, state.G
    if normalize:
        c0 = torch.cat([c0, state.m.unsqueeze(-1)], -1)  # type: ignore[union-attr]
        g0 = torch.cat([g0, state.h.unsqueeze(-1)], -1)  # type: ignore[union-attr]
    return v, state.S, c0, g0


def finish(out: Tensor, s: Tensor | None, c: Tensor | None, g: Tensor | None, normalize: bool,
           eps: float) -> tuple[Tensor, TensorAttentionState | None]:
    """Split the augmented column back off: divide by the guarded normaliser, build the state.

    ``out`` is ``[B, H, T, Dv(+1)]``; returns ``o [B, T, H, Dv]`` and the state (if ``s``).
    """
    if normalize:
        out = out[..., :-1] / guard(out[..., -1:], eps)
    o = out.transpose(1, 2)
    if s is None:
        return o, None
    assert c is not None and g is not None
    if normalize:
        return o, TensorAttentionState(s, c[..., :-1], g[..., :-1], c[..., -1], g[..., -1])
    return o, TensorAttentionState(s, c, g)
