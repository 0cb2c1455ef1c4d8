"""Suite ``spans``: linear layers applied as parametric spans against torch's kernels and
sparse matrices.

Three problems, forward and forward+backward, time and peak memory:

- ``dense``: ``F.linear(x, W)`` (``native``, the baseline) against :func:`prodint.spans.dense`
  in scalar form (``span(W.flatten(), x)``, the batch as the span's batch), batch 512,
  256 -> 256 features (``--quick``: batch 16, 32 -> 32);
- ``conv2d``: ``F.conv2d(x, W, padding=1)`` (``native``) against :func:`prodint.spans.conv` in
  block form (``w [9, c_in, c_out]`` mixes the channels, ``x`` in the span's layout
  ``[B, H * W, c_in]``; both layout changes are inside the timed call), 16 -> 16 channels,
  3x3 kernel, 32x32 input, batch 8 (``--quick``: 4 -> 4 channels, 8x8, batch 2);
- ``graph``: a random simple graph of 20000 nodes with 10 edges per node and symmetric
  normalisation, 64 channels (``--quick``: 500 nodes, 8 channels). The baseline
  ``index_add`` is the hand-written scatter ``out.index_add_(0, dst, x[src] * norm[:, None])``
  on ``x [N, C]``; the span is :func:`prodint.spans.graph` in scalar form with the channels as
  its batch (``span(w, x.T).T``, ``w [1]`` a learned gain, which receives a gradient), so every
  message is ``nu_e * w * x[s_e]`` with no channel mixing, exactly the baseline's computation.

Every problem also has ``sparse``: the sparse execution mode of :mod:`prodint.sparse`, the CSR
product ``SparsePattern(span).apply(w, x)`` (its pattern fixed once, its values built inside
the timed call, as a user training ``w`` pays for them, differentiated by CSR products), and
``torch_csr``: the same CSR matrix ``SparsePattern(span).matrix(w)`` times the input through
torch's own sparse autograd. For the convolution both are the scalar span over (point,
channel) pairs, with ``K c_in c_out`` entries per output point. The graph adds ``torch_sparse``:
``torch.sparse.mm`` on a prebuilt CSR of the same matrix (values fixed, only ``x``
differentiated).

Records carry ``flops_fwd`` (``2 B in out`` for the dense layer, ``2 B |E| c_in c_out`` for the
convolution with ``|E|`` the in-grid taps, ``2 |E| C`` for the graph) and ``annotate`` adds
``gflops_fwd``. The graph's span and sparse records add ``span_vs_torch_sparse`` and
``sparse_vs_torch_sparse`` (forward time over ``torch_sparse``'s; ``..._fwd_bwd`` the same
for forward+backward, where ``torch_sparse`` differentiates ``x`` only), and the span's
``targets_met``: forward no slower than ``index_add`` and within 1.5x of ``torch_sparse``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.bench.harness import Case, Record, timed_case
from prodint.spans import Span, conv, dense, graph
from prodint.sparse.pattern import SparsePattern

__all__ = ["Problem", "annotate", "cases", "channel_span", "problems", "random_graph"]

SPARSE_TARGET = 1.5


@dataclass
class Problem:
    """One benchmark problem: implementations ``impl -> (fn, leaves)``, where ``fn()`` returns
    the layer's output (the same tensor for every implementation) and ``leaves`` are the
    tensors it differentiates."""

    name: str
    params: dict[str, Any]
    impls: dict[str, tuple[Callable[[], Tensor], list[Tensor]]]
    baseline: str


def channel_span(span: Span, c_in: int, c_out: int) -> Span:
    """The block span unrolled to a scalar span over (point, channel) pairs.

    Element ``(e, i, o)`` has source ``s_e c_in + i``, target ``t_e c_out + o`` and parameter
    ``(pi_e c_in + i) c_out + o``, so with ``w.flatten()`` of the block ``w [P, c_in, c_out]``
    and ``x [B, in_size, c_in]`` flattened to ``[B, in_size c_in]`` it is the block form.
    """
    i = torch.arange(c_in).view(1, -1, 1)
    o = torch.arange(c_out).view(1, 1, -1)
    s, t, p = (v.view(-1, 1, 1) for v in (span.source, span.target, span.param))
    shape = (span.size, c_in, c_out)
    return Span((s * c_in + i).expand(shape).reshape(-1),
                (t * c_out + o).expand(shape).reshape(-1),
                ((p * c_in + i) * c_out + o).reshape(-1), None, span.in_size * c_in,
                span.out_size * c_out, span.param_size * c_in * c_out)


def _on(span: Span, device: str) -> Span:
    """``span`` (with implicit weights) with its index tensors on ``device``."""
    return Span(span.source.to(device), span.target.to(device), span.param.to(device), None,
                span.in_size, span.out_size, span.param_size)


def random_graph(nodes: int, degree: int, generator: torch.Generator) -> Tensor:
    """``edge_index [2, E]``: ``nodes * degree`` uniform random edges, repeats and loops
    removed (a simple directed graph)."""
    edges = torch.randint(0, nodes, (2, nodes * degree), generator=generator)
    key = torch.unique(edges[0] * nodes + edges[1])
    key = key[key // nodes != key % nodes]
    return torch.stack([key // nodes, key % nodes])


def _dense(quick: bool, device: str, dtype: torch.dtype, gen: torch.Generator) -> Problem:
    batch, n_in, n_out = (16, 32, 32) if quick else (512, 256, 256)
    W = torch.randn(n_out, n_in, generator=gen, dtype=dtype).to(device).requires_grad_()
    x = torch.randn(batch, n_in, generator=gen, dtype=dtype).to(device).requires_grad_()
    span = _on(dense(n_in, n_out), device)
    pattern = SparsePattern(span)
    impls = {
        "native": (lambda: F.linear(x, W), [x, W]),
        "span": (lambda: span(W.flatten(), x), [x, W]),
        "sparse": (lambda: pattern.apply(W.flatten(), x), [x, W]),
        "torch_csr": (lambda: (pattern.matrix(W.flatten()) @ x.T).T, [x, W]),
    }
    params = {"batch": batch, "in": n_in, "out": n_out, "flops_fwd": 2 * batch * n_in * n_out,
              "device": device, "dtype": str(dtype)}
    return Problem(f"dense {n_in}->{n_out} batch={batch}", params, impls, "native")


def _conv(quick: bool, device: str, dtype: torch.dtype, gen: torch.Generator) -> Problem:
    batch, c, size = (2, 4, 8) if quick else (8, 16, 32)
    W = torch.randn(c, c, 3, 3, generator=gen, dtype=dtype).to(device).requires_grad_()
    x = torch.randn(batch, c, size, size, generator=gen, dtype=dtype).to(device)
    x.requires_grad_()
    block = conv([size, size], 3, padding=1)
    pattern = SparsePattern(_on(channel_span(block, c, c), device))
    block = _on(block, device)

    def as_torch(y: Tensor) -> Tensor:                       # [B, H W, c] -> [B, c, H, W]
        return y.mT.reshape(batch, c, size, size)

    def by_span() -> Tensor:
        return as_torch(block(W.flatten(2).permute(2, 1, 0), x.flatten(2).mT))

    def by_sparse() -> Tensor:
        flat = x.flatten(2).mT.reshape(batch, -1)
        y = pattern.apply(W.flatten(2).permute(2, 1, 0).reshape(-1), flat)
        return as_torch(y.reshape(batch, size * size, c))

    def by_torch_csr() -> Tensor:
        matrix = pattern.matrix(W.flatten(2).permute(2, 1, 0).reshape(-1))
        return as_torch((matrix @ x.flatten(2).mT.reshape(batch, -1).T).T.reshape(
            batch, size * size, c))

    impls = {
        "native": (lambda: F.conv2d(x, W, padding=1), [x, W]),
        "span": (by_span, [x, W]),
        "sparse": (by_sparse, [x, W]),
        "torch_csr": (by_torch_csr, [x, W]),
    }
    params = {"batch": batch, "channels": c, "size": size, "kernel": 3,
              "flops_fwd": 2 * batch * block.size * c * c, "device": device,
              "dtype": str(dtype)}
    return Problem(f"conv2d {c}->{c} 3x3 {size}x{size} batch={batch}", params, impls,
                   "native")


def _graph(quick: bool, device: str, dtype: torch.dtype, gen: torch.Generator) -> Problem:
    nodes, degree, c = (500, 10, 8) if quick else (20000, 10, 64)
    edge_index = random_graph(nodes, degree, gen).to(device)
    span = graph(edge_index, nodes, normalize="sym", dtype=dtype)
    src, dst, norm = span.source, span.target, span.weight
    assert norm is not None
    x = torch.randn(nodes, c, generator=gen, dtype=dtype).to(device).requires_grad_()
    w = torch.ones(1, dtype=dtype, device=device, requires_grad=True)
    pattern = SparsePattern(span)
    prebuilt = pattern.matrix(w).detach()

    def by_index_add() -> Tensor:
        return x.new_zeros(nodes, c).index_add_(0, dst, x[src] * norm[:, None])

    impls = {
        "index_add": (by_index_add, [x]),
        "span": (lambda: span(w, x.T).T, [x, w]),
        "sparse": (lambda: pattern.apply(w, x.T).T, [x, w]),
        "torch_csr": (lambda: pattern.matrix(w) @ x, [x, w]),
        "torch_sparse": (lambda: torch.sparse.mm(prebuilt, x), [x]),
    }
    params = {"nodes": nodes, "edges": span.size, "channels": c, "normalize": "sym",
              "flops_fwd": 2 * span.size * c, "device": device, "dtype": str(dtype)}
    return Problem(f"graph n={nodes} e={span.size} c={c}", params, impls, "index_add")


def problems(quick: bool = False, device: str = "cpu", dtype: torch.dtype = torch.float32
             ) -> Iterator[Problem]:
    """The dense, convolution and graph problems (see the module docstring), seeded."""
    gen = torch.Generator().manual_seed(0)
    for make in (_dense, _conv, _graph):
        yield make(quick, device, dtype, gen)


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    """Every implementation of every problem, in float32, against the problem's baseline."""
    for problem in problems(quick, device):
        for impl, (fn, leaves) in problem.impls.items():
            yield timed_case(problem.name, impl, problem.params, fn, leaves, problem.baseline)


def annotate(records: list[Record]) -> None:
    """Add ``gflops_fwd`` to every record, and the comparisons with ``torch_sparse`` (and the
    targets) to the graph's ``span`` and ``sparse`` records."""
    by_key = {(r.name, r.impl): r for r in records}
    for r in records:
        if r.fwd_ms > 0:
            r.extra["gflops_fwd"] = round(r.params["flops_fwd"] / (r.fwd_ms * 1e6), 3)
        reference = by_key.get((r.name, "torch_sparse"))
        if r.impl not in ("span", "sparse") or reference is None or not reference.fwd_ms:
            continue
        ratio = round(r.fwd_ms / reference.fwd_ms, 4)
        r.extra[f"{r.impl}_vs_torch_sparse"] = ratio
        if r.fwd_bwd_ms is not None and reference.fwd_bwd_ms:
            r.extra[f"{r.impl}_vs_torch_sparse_fwd_bwd"] = round(
                r.fwd_bwd_ms / reference.fwd_bwd_ms, 4)
        if r.impl == "span":
            r.extra["targets_met"] = (r.ratio_fwd is not None and r.ratio_fwd <= 1.0
                                      and ratio <= SPARSE_TARGET)
