"""Suite ``dtn``: tensor attention against causal softmax attention, and streaming steps.

- ``T=…``: chunked tensor attention (``chunk``) against ``F.scaled_dot_product_attention``
  with ``is_causal=True`` (``sdpa``, the baseline) at B=1, H=8, D=64, float32, forward and
  forward+backward, with peak memory, for T = 1k, 2k, 4k, 16k and 64k. Targets: faster than
  SDPA from T = 2k, at least 15× faster at 16k forward and forward+backward, at least 50% of
  the machine's matmul rate in the forward at 16k, memory linear in T. ``--quick`` stops at
  4k. SDPA is not run at 64k (about 30 s forward and 2 min forward+backward per call here):
  that row has the chunked form alone. :func:`annotate` writes each row's FLOPs (the
  chunked form's by term, :func:`~prodint.ops.tensor_attention.chunk.chunk_flops`; SDPA's
  by :func:`sdpa_flops`), the rates reached and their fraction of the machine's matmul rate
  (``matmul_gflops``) into ``extra``: that of the ``matmul`` row of the same length, a
  2048³ float32 matmul timed in round-robin with SDPA and the chunked form (the machine's
  speed drifts over a run; this one is measured beside the attention calls it divides).
- the streaming rows of :mod:`prodint.bench.dtn_stream`: the true one-token step after 1k
  and 64k tokens (target ≤ 20 µs per token, flat within 1.1×) and generation tokens/s of the
  Shakespeare-sized DTN against the softmax model at batch 1 and 32.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from prodint.bench import dtn_stream
from prodint.bench.harness import Case, Record, median_ms, timed_case
from prodint.checks import check_bool, check_instance, check_int
from prodint.ops.tensor_attention import tensor_attention
from prodint.ops.tensor_attention.chunk import chunk_flops

HEADS, DIM = 8, 64
SDPA_MAX_T = 16384
CHUNK = 64
#: Side of the reference matmul of each attention group (impl ``matmul``).
MATMUL_N = 2048


def _inputs(t: int, device: str) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return tuple((torch.randn(1, t, HEADS, DIM, generator=g) * 0.1).to(device)
                 .requires_grad_() for _ in range(3))


def attention_cases(t: int, device: str) -> Iterator[Case]:
    q, k, v = _inputs(t, device)
    qs, ks, vs = (x.detach().transpose(1, 2).contiguous().requires_grad_() for x in (q, k, v))
    params = {"T": t, "B": 1, "H": HEADS, "D": DIM, "chunk": CHUNK, "device": device}

    def sdpa() -> torch.Tensor:
        return F.scaled_dot_product_attention(qs, ks, vs, is_causal=True)

    def chunk() -> torch.Tensor:
        return tensor_attention(q, k, v, mode="chunk", chunk_size=CHUNK)[0]

    x = torch.randn(MATMUL_N, MATMUL_N, generator=torch.Generator().manual_seed(1)).to(device)

    def matmul() -> torch.Tensor:
        return x @ x

    impls = [("chunk", chunk, (q, k, v))]
    if t <= SDPA_MAX_T:
        impls.insert(0, ("sdpa", sdpa, (qs, ks, vs)))
    for impl, fn, leaves in impls:
        yield timed_case(f"T={t}", impl, params, fn, leaves, baseline="sdpa")
    yield timed_case(f"T={t}", "matmul", params | {"n": MATMUL_N}, matmul, None,
                     baseline="matmul")


def sdpa_flops(b: int, t: int, h: int, d: int, dv: int, *, backward: bool = False) -> int:
    """FLOPs of causal softmax attention's products, counting the ``t(t+1)/2`` pairs
    ``j ≤ t`` alone (what a causal kernel computes): ``Q Kᵀ`` and ``P V`` forward,
    ``b·h·t(t+1)·(d + dv)``; backward (``Q Kᵀ`` recomputed, ``dV = Pᵀ dO``, ``dP = dO Vᵀ``,
    ``dQ = dS K``, ``dK = dSᵀ Q``) ``b·h·t(t+1)·(3d + 2dv)``.

    Raises:
        TypeError: a size that is not an int, ``backward`` not a bool.
        ValueError: a size below 0.
    """
    b, t, h, d, dv = (check_int(x, name, minimum=0) for x, name in
                      ((b, "b"), (t, "t"), (h, "h"), (d, "d"), (dv, "dv")))
    pairs = b * h * t * (t + 1)
    return pairs * (3 * d + 2 * dv) if check_bool(backward, "backward") else pairs * (d + dv)


def matmul_rate(n: int = 2048, device: str = "cpu") -> float:
    """FLOP/s of one ``n × n`` float32 matmul on ``device``, the median of repeated calls.

    Raises:
        TypeError: ``n`` is not an int, ``device`` not a str.
        ValueError: ``n`` below 1 or above 8192.
    """
    n = check_int(n, "n", minimum=1, maximum=8192)
    x = torch.randn(n, n, device=check_instance(device, "device", str))
    return 2 * n**3 / (median_ms(lambda: x @ x) / 1e3)


def _flops(r: Record, backward: bool) -> tuple[int, dict[str, int] | None]:
    """The FLOPs of an attention row (and the chunked form's terms)."""
    p = r.params
    if r.impl == "sdpa":
        return sdpa_flops(p["B"], p["T"], p["H"], p["D"], p["D"], backward=backward), None
    terms = chunk_flops(p["B"], p["T"], p["H"], p["D"], p["D"], p["chunk"],
                        backward=backward)
    return sum(terms.values()), terms


def annotate(records: list[Record]) -> None:
    """FLOPs, rates and fractions of the matmul rate of the attention rows (module doc): the
    rate of the ``matmul`` row of the same name, or where there is none (records of an older
    run) of :func:`matmul_rate` measured now."""
    rates: dict[str, float] = {}
    beside = {r.name: 2 * r.params["n"] ** 3 / (r.fwd_ms / 1e3) for r in records
              if r.name.startswith("T=") and r.impl == "matmul"}
    for r in records:
        if not r.name.startswith("T="):
            continue
        device = r.params["device"]
        rate = beside.get(r.name) or rates.get(device)
        if rate is None:
            rate = rates[device] = matmul_rate(device=device)
        r.extra["matmul_gflops"] = round(rate / 1e9, 1)
        if r.impl == "matmul":
            continue
        fwd, terms = _flops(r, False)
        bwd, back_terms = _flops(r, True)
        r.extra["flops_fwd"] = fwd
        r.extra["flops_fwd_bwd"] = fwd + bwd
        if terms is not None:
            r.extra["flops_fwd_terms"] = terms
            r.extra["flops_bwd_terms"] = back_terms
        for key, flops, ms in (("fwd", fwd, r.fwd_ms), ("fwd_bwd", fwd + bwd, r.fwd_bwd_ms)):
            if ms:
                reached = flops / (ms / 1e3)
                r.extra[f"gflops_{key}"] = round(reached / 1e9, 1)
                r.extra[f"fraction_of_matmul_{key}"] = round(reached / rate, 3)


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    lengths = (1024, 2048, 4096) if quick else (1024, 2048, 4096, 16384, 65536)
    for t in lengths:
        yield from attention_cases(t, device)
    yield from dtn_stream.cases(quick, device)
