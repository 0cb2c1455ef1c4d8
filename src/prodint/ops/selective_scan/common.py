"""Shared definitions of the selective scan: the equations, the layout, the state, the checks.

Mamba's selective state-space scan, per sequence, with a state ``h_t ∈ R^{D×N}`` and
``h_{-1} = initial_state.h`` (zeros if absent)::

    h_t = exp(Δ_t ⊗ A) ⊙ h_{t-1} + (Δ_t ⊙ x_t) ⊗ B_t
    y_t = h_t C_t + D ⊙ x_t

i.e. ``h_t[d, n] = exp(Δ_t[d] A[d, n]) h_{t-1}[d, n] + Δ_t[d] x_t[d] B_t[n]`` and
``y_t[d] = Σ_n h_t[d, n] C_t[n] + D[d] x_t[d]``. Unrolled,
``y_t = Σ_{s ≤ t} C_t (Π_{s<r≤t} exp(Δ_r A)) Δ_s B_s x_s + D x_t``: order 3 and higher in
the signal when ``Δ, B, C`` are linear in it (the scan is the inverse ``(1 - Ā z)^{-1}`` in
the causal algebra ``R[z]/(z^T)``).

Layout: ``x, Δ: [B, T, D]``, ``A: [D, N]``, ``B, C: [B, T, N]``, ``D: [D]``, state
``[B, D, N]``. The other sequence operators take ``[B, T, H, D]``; the selective scan has no
head axis because Mamba's scan is per channel: every channel ``d`` has its own step
``Δ[d]`` and its own decay row ``A[d]``, and the input and output matrices ``B_t, C_t`` are
shared by all channels. A head axis would only group channels that share ``B, C`` (Mamba-2's
groups), which is the single group here; ``[B, T, D]`` is ``[B, T, H=1, D]`` with the unit
axis dropped.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

MODES = ("naive", "chunk", "recurrent")


class SelectiveScanState(NamedTuple):
    """The scan state after a token.

    Attributes:
        h: ``[B, D, N]``, the state ``h_t`` of every channel.
    """

    h: Tensor


def _shape(name: str, value: object, expected: tuple[int | None, ...], labels: str) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor {labels}, received "
                        f"{type(value).__name__}")
    ok = value.dim() == len(expected) and all(
        e is None or e == s for e, s in zip(expected, value.shape, strict=True))
    if not ok:
        want = ", ".join("*" if e is None else str(e) for e in expected)
        raise ValueError(f"{name}: expected shape {labels} = [{want}], received "
                         f"{tuple(value.shape)}")


def _same_kind(first: str, reference: Tensor,
               named: tuple[tuple[str, Tensor | None], ...]) -> None:
    if not reference.dtype.is_floating_point:
        raise TypeError(f"{first}: expected a floating dtype, received {reference.dtype}")
    for name, t in named:
        if t is not None and (t.dtype != reference.dtype or t.device != reference.device):
            raise ValueError(f"{name}: expected dtype {reference.dtype} on {reference.device} "
                             f"(those of {first}), received {t.dtype} on {t.device}")


def check_state(state: object, batch: int, width: int, size: int, argument: str) -> None:
    """Raise unless ``state`` is ``None`` or a :class:`SelectiveScanState` of ``[B, D, N]``."""
    if state is None:
        return
    if not isinstance(state, SelectiveScanState):
        raise TypeError(f"{argument}: expected a SelectiveScanState, received "
                        f"{type(state).__name__}")
    _shape(f"{argument}.h", state.h, (batch, width, size), "[B, D, N]")


def check_inputs(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                 D: Tensor | None = None, initial_state: SelectiveScanState | None = None
                 ) -> tuple[int, int, int, int]:
    """Validate a sequence's arguments (layout in the module doc); return ``B, T, D, N``.

    Raises a ``ValueError``/``TypeError`` naming the first argument of the wrong type,
    shape, dtype or device.
    """
    _shape("x", x, (None, None, None), "[B, T, D]")
    batch, length, width = x.shape
    _shape("delta", delta, (batch, length, width), "[B, T, D]")
    _shape("A", A, (width, None), "[D, N]")
    size = A.shape[1]
    _shape("B", B, (batch, length, size), "[B, T, N]")
    _shape("C", C, (batch, length, size), "[B, T, N]")
    if D is not None:
        _shape("D", D, (width,), "[D]")
    check_state(initial_state, batch, width, size, "initial_state")
    _same_kind("x", x, (("delta", delta), ("A", A), ("B", B), ("C", C), ("D", D),
                        ("initial_state.h", None if initial_state is None else initial_state.h)))
    return batch, length, width, size


def check_step_inputs(x_t: Tensor, delta_t: Tensor, A: Tensor, B_t: Tensor, C_t: Tensor,
                      D: Tensor | None, state: SelectiveScanState | None
                      ) -> tuple[int, int, int]:
    """Validate one token's arguments (``x_t, Δ_t: [B, D]``, ``B_t, C_t: [B, N]``); return
    ``B, D, N``."""
    _shape("x_t", x_t, (None, None), "[B, D]")
    batch, width = x_t.shape
    _shape("delta_t", delta_t, (batch, width), "[B, D]")
    _shape("A", A, (width, None), "[D, N]")
    size = A.shape[1]
    _shape("B_t", B_t, (batch, size), "[B, N]")
    _shape("C_t", C_t, (batch, size), "[B, N]")
    if D is not None:
        _shape("D", D, (width,), "[D]")
    check_state(state, batch, width, size, "state")
    _same_kind("x_t", x_t, (("delta_t", delta_t), ("A", A), ("B_t", B_t), ("C_t", C_t), ("D", D),
                              ("state.h", None if state is None else state.h)))
    return batch, width, size


