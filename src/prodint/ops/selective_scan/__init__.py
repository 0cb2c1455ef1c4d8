"""Mamba's selective scan in three exact forms.

``selective_scan(x, delta, A, B, C, D, mode=...)`` with ``mode`` one of ``naive`` (a loop over
time written as the equations, the reference), ``chunk`` (masked matrix products inside
chunks of segment sums in log space, a short scan over chunk states across them) and
``recurrent`` (token by token with ``O(D·N)`` state and a backward that recomputes
checkpointed states). All three agree to float64 rounding in values, final states and every
gradient.
"""

from __future__ import annotations

from torch import Tensor

from prodint.ops.selective_scan.chunk import selective_scan_chunk
from prodint.ops.selective_scan.naive import selective_scan_naive
from prodint.ops.selective_scan.recurrent import selective_scan_recurrent, selective_scan_step

MODES = ("naive", "chunk", "recurrent")


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


def check_inputs(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                 D: Tensor | None = None, initial_state: Tensor | None = None) -> None:
    """Raise a ``ValueError``/``TypeError`` naming the first argument of the wrong shape,
    dtype or device (shapes as :func:`selective_scan`)."""
    _shape("x", x, (None, None, None), "[B, T, D]")
    batch, length, width = x.shape
    _shape("delta", delta, (batch, length, width), "[B, T, D]")
    _shape("A", A, (width, None), "[D, N]")
    state = A.shape[1]
    _shape("B", B, (batch, length, state), "[B, T, N]")
    _shape("C", C, (batch, length, state), "[B, T, N]")
    if D is not None:
        _shape("D", D, (width,), "[D]")
    if initial_state is not None:
        _shape("initial_state", initial_state, (batch, width, state), "[B, D, N]")
    for name, t in (("delta", delta), ("A", A), ("B", B), ("C", C), ("D", D),
                    ("initial_state", initial_state)):
        if t is not None and (t.dtype != x.dtype or t.device != x.device):
            raise ValueError(f"{name}: expected dtype {x.dtype} on {x.device} (those of x), "
                             f"received {t.dtype} on {t.device}")


def selective_scan(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                   D: Tensor | None = None, *, mode: str = "chunk", chunk_size: int = 64,
                   initial_state: Tensor | None = None, output_final_state: bool = False
                   ) -> tuple[Tensor, Tensor | None]:
    """Mamba's selective state-space scan.

    With a state ``h_t ∈ R^{D×N}`` per sequence, ``h_{-1} = initial_state`` (zeros if absent):

        h_t = exp(Δ_t ⊗ A) ⊙ h_{t-1} + (Δ_t ⊙ x_t) ⊗ B_t,
        y_t = h_t C_t + D ⊙ x_t,

    i.e. ``h_t[d, n] = exp(Δ_t[d] A[d, n]) h_{t-1}[d, n] + Δ_t[d] x_t[d] B_t[n]`` and
    ``y_t[d] = Σ_n h_t[d, n] C_t[n] + D[d] x_t[d]``. Unrolled,
    ``y_t = Σ_{s ≤ t} C_t (Π_{s<r≤t} exp(Δ_r A)) Δ_s B_s x_s + D x_t``: order 3 and higher in
    the signal when ``Δ, B, C`` are linear in it (the scan is the inverse
    ``(1 - Ā z)^{-1}`` in the causal algebra ``R[z]/(z^T)``).

    Args:
        x: inputs ``[B, T, D]``.
        delta: step sizes ``Δ`` ``[B, T, D]`` (positive in Mamba: a softplus).
        A: ``[D, N]`` (negative in Mamba, so the state decays).
        B, C: input and output matrices ``[B, T, N]``, shared across channels.
        D: skip weights ``[D]`` or ``None``.
        mode: ``"naive"``, ``"chunk"`` or ``"recurrent"``.
        chunk_size: chunk length of ``chunk``; for ``recurrent`` the number of tokens between
            two states kept for the backward pass. Never changes the result.
        initial_state: ``[B, D, N]`` carried from an earlier segment.
        output_final_state: also return ``h_{T-1}``.

    Returns:
        ``(y [B, T, D], final_state [B, D, N] or None)``.

    >>> import torch
    >>> x = delta = torch.ones(1, 3, 2); A = -torch.ones(2, 1); B = C = torch.ones(1, 3, 1)
    >>> selective_scan(x, delta, A, B, C)[0][0, :, 0]
    tensor([1.0000, 1.3679, 1.5032])
    """
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, received {mode!r}")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive int, received {chunk_size!r}")
    check_inputs(x, delta, A, B, C, D, initial_state)
    if mode == "naive":
        return selective_scan_naive(x, delta, A, B, C, D, initial_state=initial_state,
                                    output_final_state=output_final_state)
    if mode == "recurrent":
        return selective_scan_recurrent(x, delta, A, B, C, D, segment=chunk_size,
                                        initial_state=initial_state,
                                        output_final_state=output_final_state)
    return selective_scan_chunk(x, delta, A, B, C, D, chunk_size=chunk_size,
                                initial_state=initial_state,
                                output_final_state=output_final_state)


__all__ = [
    "MODES",
    "check_inputs",
    "selective_scan",
    "selective_scan_chunk",
    "selective_scan_naive",
    "selective_scan_recurrent",
    "selective_scan_step",
]
