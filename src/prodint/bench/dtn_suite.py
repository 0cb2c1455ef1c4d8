"""Suite ``dtn``: tensor attention against causal softmax attention, and streaming steps.

- ``T=…``: chunked tensor attention (``chunk``) against ``F.scaled_dot_product_attention``
  with ``is_causal=True`` (``sdpa``, the baseline) at B=1, H=8, D=64, float32, forward and
  forward+backward, with peak memory. Targets: faster than SDPA from T = 4k, ≥ 5× at 16k,
  memory linear in T. ``--quick`` stops at 4k. SDPA is not run at 64k (about 30 s forward
  and 2 min forward+backward per call here): that row has the chunked form alone.
- ``recurrent step``: time of one streaming step (per token) after ``P`` tokens, for
  ``P = 1k`` (baseline) and ``64k``; the state's size does not depend on ``P``, so the ratio
  should stay near 1 (target ≤ 1.1).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from prodint.bench.harness import Case, timed_case
from prodint.ops.tensor_attention import tensor_attention

HEADS, DIM = 8, 64
SDPA_MAX_T = 16384


def _inputs(t: int, device: str) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return tuple((torch.randn(1, t, HEADS, DIM, generator=g) * 0.1).to(device)
                 .requires_grad_() for _ in range(3))


def attention_cases(t: int, device: str) -> Iterator[Case]:
    q, k, v = _inputs(t, device)
    qs, ks, vs = (x.detach().transpose(1, 2).contiguous().requires_grad_() for x in (q, k, v))
    params = {"T": t, "B": 1, "H": HEADS, "D": DIM, "device": device}

    def sdpa() -> torch.Tensor:
        return F.scaled_dot_product_attention(qs, ks, vs, is_causal=True)

    def chunk() -> torch.Tensor:
        return tensor_attention(q, k, v, mode="chunk")[0]

    impls = [("chunk", chunk, (q, k, v))]
    if t <= SDPA_MAX_T:
        impls.insert(0, ("sdpa", sdpa, (qs, ks, vs)))
    for impl, fn, leaves in impls:
        yield timed_case(f"T={t}", impl, params, fn, leaves, baseline="sdpa")


def step_cases(positions: tuple[int, ...], device: str, window: int = 32) -> Iterator[Case]:
    """Per-token streaming step after ``P`` tokens (state built by the chunked form)."""
    for p in positions:
        q, k, v = (x.detach() for x in _inputs(p + window, device))
        with torch.no_grad():
            _, state = tensor_attention(q[:, :p], k[:, :p], v[:, :p], output_final_state=True)
        tail = tuple(x[:, p:].contiguous() for x in (q, k, v))

        def step(tail=tail, state=state) -> torch.Tensor:
            return tensor_attention(*tail, mode="recurrent", initial_state=state)[0]

        yield timed_case("recurrent step", f"pos={p}", {"position": p, "window": window,
                                                        "device": device},
                         step, None, baseline=f"pos={positions[0]}")


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    lengths = (1024, 4096) if quick else (1024, 4096, 16384, 65536)
    for t in lengths:
        yield from attention_cases(t, device)
    yield from step_cases((1024, 4096) if quick else (1024, 65536), device)
