"""The Deep Tensor Network operators checked and timed, for the demo report.

For each operator and variant, the three forms (``naive``, the ``T × T`` definition;
``chunk``; ``recurrent``) run on the same float64 inputs with a sequence length no chunk size
divides, and the row records the largest difference of each fast form to ``naive``, outputs
and final states together, relative to the largest magnitude of the ``naive`` results.
:func:`speed_row` times the chunked form against causal ``scaled_dot_product_attention`` at
one length (float32, forward); :func:`section` is the report table of both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.bench.harness import interleaved_ms
from prodint.checks import check_int, check_memory
from prodint.ops.tensor_attention import tensor_attention
from prodint.ops.tensor_interaction import tensor_interaction
from prodint.report import Section
from prodint.surveys.fields import check_fields

__all__ = ["FormsRow", "SpeedRow", "forms_rows", "section", "speed_row"]


@dataclass(frozen=True)
class FormsRow:
    """``chunk_error``, ``recurrent_error``: largest difference to ``naive`` relative to the
    largest ``naive`` magnitude (float64)."""

    operator: str
    variant: str
    length: int
    chunk_error: float
    recurrent_error: float

    def __post_init__(self) -> None:
        """Raises ``TypeError``/``ValueError`` for a field of the wrong kind."""
        check_fields(self, texts=("operator", "variant"), counts=("length",),
                     numbers=("chunk_error", "recurrent_error"))


@dataclass(frozen=True)
class SpeedRow:
    """Forward times (ms) at one length and the ratio chunk / SDPA."""

    length: int
    chunk_ms: float
    sdpa_ms: float
    ratio: float

    def __post_init__(self) -> None:
        """Raises ``TypeError``/``ValueError`` for a field of the wrong kind."""
        check_fields(self, counts=("length",), numbers=("chunk_ms", "sdpa_ms", "ratio"))


def _difference(a: tuple[Tensor, object], b: tuple[Tensor, object]) -> float:
    def flat(result: tuple[Tensor, object]) -> list[Tensor]:
        out, state = result
        states = [] if state is None else list(state) if isinstance(state, tuple) else [state]
        return [out, *(s for s in states if s is not None)]

    scale = max(float(y.abs().max()) for y in flat(b))
    return max(float((x - y).abs().max()) for x, y in zip(flat(a), flat(b), strict=True)) / scale


def forms_rows(length: int = 75, chunk_size: int = 16) -> list[FormsRow]:
    """Every operator and variant, three forms compared (see module doc), on ``[2, length,
    3, 8]`` inputs.

    Raises:
        TypeError: ``length`` or ``chunk_size`` is not an int.
        ValueError: either is below 1, or the ``length × length`` definition would not fit
            in memory.
    """
    length = check_int(length, "length", minimum=1)
    chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    # The naive form holds a few [2, 3, length, length] float64 tensors.
    check_memory(4 * 2 * 3 * 8 * length**2, "length", "T × T definition")
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, length, 3, 8, generator=g, dtype=torch.float64) * 0.5
               for _ in range(3))
    variants: list[tuple[str, str, Callable[..., tuple[Tensor, object]]]] = [
        ("tensor attention", "plain", tensor_attention),
        ("tensor attention", "normalize", lambda *a, **kw: tensor_attention(
            *a, normalize=True, **kw)),
        ("tensor attention", "decay 0.95", lambda *a, **kw: tensor_attention(
            *a, decay=0.95, **kw)),
        ("tensor interaction", "plain", tensor_interaction),
    ]
    rows = []
    for operator, variant, fn in variants:
        results = {mode: fn(q, k, v, mode=mode, chunk_size=chunk_size, output_final_state=True)
                   for mode in ("naive", "chunk", "recurrent")}
        rows.append(FormsRow(operator, variant, length,
                             _difference(results["chunk"], results["naive"]),
                             _difference(results["recurrent"], results["naive"])))
    return rows


def _check_speed_memory(**sizes: int) -> None:
    """Refuse a timing whose float32 inputs and ``heads × length²`` scores would not fit in
    memory, naming the largest of the sizes (``length`` or ``speed_length``, ``heads``,
    ``dim``)."""
    length, heads, dim = sizes.values()
    largest = max(sizes, key=lambda name: sizes[name])
    check_memory(4 * heads * length * (length + 8 * dim), largest,
                 "inputs and attention scores")


def speed_row(length: int = 4096, heads: int = 8, dim: int = 64) -> SpeedRow:
    """Chunked tensor attention against causal SDPA (float32, forward, B = 1).

    Raises:
        TypeError: a size is not an int.
        ValueError: a size below 1, or inputs and attention scores (``heads × length²``)
            that would not fit in memory.
    """
    length = check_int(length, "length", minimum=1)
    heads = check_int(heads, "heads", minimum=1)
    dim = check_int(dim, "dim", minimum=1)
    _check_speed_memory(length=length, heads=heads, dim=dim)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, length, heads, dim, generator=g) * 0.1 for _ in range(3))
    qs, ks, vs = (x.transpose(1, 2).contiguous() for x in (q, k, v))
    with torch.no_grad():
        chunk_ms, sdpa_ms = interleaved_ms(
            [lambda: tensor_attention(q, k, v, mode="chunk"),
             lambda: F.scaled_dot_product_attention(qs, ks, vs, is_causal=True)],
            rounds=2, min_seconds=0.3)
    return SpeedRow(length, chunk_ms, sdpa_ms, chunk_ms / sdpa_ms)


def section(length: int = 75, chunk_size: int = 16, speed_length: int = 4096, heads: int = 8,
            dim: int = 64) -> Section:
    """The forms (:func:`forms_rows` at ``length``, ``chunk_size``) and the speed row
    (:func:`speed_row` at ``speed_length``, ``heads``, ``dim``) as a report table; it passes
    when every fast form agrees with the definition to 1e-10 (the speed row is a
    measurement, not a check).

    Raises:
        TypeError, ValueError: as :func:`forms_rows` and :func:`speed_row` (before either
            runs).
    """
    for name, value in (("speed_length", speed_length), ("heads", heads), ("dim", dim)):
        check_int(value, name, minimum=1)
    _check_speed_memory(speed_length=speed_length, heads=heads, dim=dim)
    forms = forms_rows(length, chunk_size)
    speed = speed_row(speed_length, heads, dim)
    rows: list[list[object]] = [[r.operator, r.variant, r.length, r.chunk_error,
                                 r.recurrent_error] for r in forms]
    rows.append(["chunk time / SDPA time", f"{speed.chunk_ms:.0f} ms / {speed.sdpa_ms:.0f} ms",
                 speed.length, round(speed.ratio, 3), ""])
    return Section(
        "Deep Tensor Network operators",
        "Each operator's chunked and streaming forms against the T × T definition (float64, "
        f"T = {length}, chunk {chunk_size}: outputs and final states, error relative to the "
        "largest value); the last row times the chunked form against causal softmax "
        f"attention (scaled_dot_product_attention, float32, B=1, H={heads}, D={dim}, "
        "forward).",
        ["operator", "variant", "T", "chunk error", "recurrent error"],
        rows,
        passed=all(r.chunk_error <= 1e-10 and r.recurrent_error <= 1e-10 for r in forms),
    )
