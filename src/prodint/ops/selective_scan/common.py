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

from prodint.checks import check_bool, check_same_device, check_tensor
from prodint.ops import checks

MODES = ("naive", "chunk", "recurrent")


class SelectiveScanState(NamedTuple):
    """The scan state after a token.

    Attributes:
        h: ``[B, D, N]``, the state ``h_t`` of every channel.
    """

    h: Tensor


def _sized(name: str, value: object, expected: tuple[int | None, ...], labels: str,
           source: str) -> Tensor:
    """``value`` as a float32/float64 tensor of the ``expected`` shape (``None`` free), the
    sizes taken from ``source`` (named in the message)."""
    t = check_tensor(value, name, rank=len(expected), layout=labels, dtypes=checks.DTYPES)
    if any(e is not None and e != n for e, n in zip(expected, t.shape, strict=True)):
        want = ", ".join("*" if e is None else str(e) for e in expected)
        raise ValueError(f"{name}: expected shape {labels} = [{want}] (the sizes of {source}), "
                         f"received {tuple(t.shape)}")
    return t


def _same_kind(first: str, reference: Tensor, named: dict[str, Tensor | None]) -> None:
    """Every tensor of ``named`` of the dtype of ``reference`` (named ``first``), all on one
    device."""
    for name, t in named.items():
        if t is not None and t.dtype != reference.dtype:
            raise TypeError(f"{name}: expected the dtype of {first} ({reference.dtype}), "
                            f"received {t.dtype}")
    check_same_device(**{first: reference}, **named)


def check_state(state: object, batch: int, width: int, size: int, argument: str) -> None:
    """Raise unless ``state`` is ``None`` or a :class:`SelectiveScanState` of ``[B, D, N]``."""
    if state is None:
        return
    if not isinstance(state, SelectiveScanState):
        raise TypeError(f"{argument}: expected a SelectiveScanState or None, received "
                        f"{type(state).__name__}")
    _sized(f"{argument}.h", state.h, (batch, width, size), "[B, D, N]", "the inputs and A")


def check_inputs(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                 D: Tensor | None = None, initial_state: SelectiveScanState | None = None,
                 *, output_final_state: bool = False) -> tuple[int, int, int, int]:
    """Validate a sequence's arguments (layout in the module doc); return ``B, T, D, N``.

    Raises:
        TypeError: an argument that is not a tensor, not float32/float64, or not of the
            dtype of ``x`` (or a state of another type, or a non-bool
            ``output_final_state``).
        ValueError: a shape that does not match, or a tensor on another device.
    """
    x = _sized("x", x, (None, None, None), "[B, T, D]", "x")
    batch, length, width = x.shape
    _sized("delta", delta, (batch, length, width), "[B, T, D]", "x")
    _sized("A", A, (width, None), "[D, N]", "x")
    size = A.shape[1]
    _sized("B", B, (batch, length, size), "[B, T, N]", "x, A")
    _sized("C", C, (batch, length, size), "[B, T, N]", "x, A")
    if D is not None:
        _sized("D", D, (width,), "[D]", "x")
    check_state(initial_state, batch, width, size, "initial_state")
    _same_kind("x", x, {"delta": delta, "A": A, "B": B, "C": C, "D": D,
                        "initial_state.h": None if initial_state is None else initial_state.h})
    check_bool(output_final_state, "output_final_state")
    return batch, length, width, size


def check_step_inputs(x_t: Tensor, delta_t: Tensor, A: Tensor, B_t: Tensor, C_t: Tensor,
                      D: Tensor | None, state: SelectiveScanState | None
                      ) -> tuple[int, int, int]:
    """Validate one token's arguments (``x_t, Δ_t: [B, D]``, ``B_t, C_t: [B, N]``); return
    ``B, D, N``.

    Raises:
        TypeError: as :func:`check_inputs`.
        ValueError: as :func:`check_inputs`.
    """
    x_t = _sized("x_t", x_t, (None, None), "[B, D]", "x_t")
    batch, width = x_t.shape
    _sized("delta_t", delta_t, (batch, width), "[B, D]", "x_t")
    _sized("A", A, (width, None), "[D, N]", "x_t")
    size = A.shape[1]
    _sized("B_t", B_t, (batch, size), "[B, N]", "x_t, A")
    _sized("C_t", C_t, (batch, size), "[B, N]", "x_t, A")
    if D is not None:
        _sized("D", D, (width,), "[D]", "x_t")
    check_state(state, batch, width, size, "state")
    _same_kind("x_t", x_t, {"delta_t": delta_t, "A": A, "B_t": B_t, "C_t": C_t, "D": D,
                            "state.h": None if state is None else state.h})
    return batch, width, size
