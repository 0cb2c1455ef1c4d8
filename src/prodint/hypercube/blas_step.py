"""The observed-pair step on the CPU: cache-sized chunks on parallel single-threaded BLAS.

The mathematics is that of :func:`prodint.hypercube.model.loss_and_grad` (see
:mod:`prodint.hypercube.model`): ``P_p = A_{a_p} B_{b_p}``, ``T[p, c] = ⟨P_p, C_cᵀ⟩ / n``,
``G = 2 (T − Y) / n``, ``∂P_p = Σ_c G[p, c] C_cᵀ``, ``∂C_c = Σ_p G[p, c] P_pᵀ``,
``∂A_a = Σ_{p: a_p = a} ∂P_p B_{b_p}ᵀ``, ``∂B_b = Σ_{p: b_p = b} A_{a_p}ᵀ ∂P_p``: six products of
``2 m n³`` FLOPs. Only their order of work differs, organised for a CPU:

- **Chunks.** The pairs, sorted by ``b``, are cut into chunks of whole ``b``'s holding at least
  ``chunk_pairs`` pairs (about 1-4 MB of ``n × n`` matrices at n = 97). Each chunk runs all
  six products before the next starts, so ``P`` and ``∂P`` never leave the cache: per chunk
  of ``k`` pairs, ``Aₛ = A[a_p]`` (``[k, n, n]``, gathered), ``P = Aₛ B_b`` per ``b``,
  logits ``= P ctᵀ / n`` (``ct[c, (i, j)] = C_c[j, i]``), ``Gᵀ P`` added into ``∂C``,
  ``∂P = G ct``, ``∂B_b = Aₛᵀ ∂P`` and ``∂P B_bᵀ`` added into ``∂A`` row by row. The whole
  step streams the ``[m, n, n]`` products through memory zero times, against a dozen passes
  when each product runs over all pairs at once.
- **Workers.** The chunks are split into ``workers`` contiguous parts of about equal pairs;
  each part runs in its own thread on its own core with the BLAS limited to one thread
  (``threadpoolctl``), into its own ``∂A`` and ``∂C`` accumulators, summed at the end. A
  product of a few ``n = 97`` matrices is too small to share between cores: split across two
  threads it waits on their synchronization, whereas two independent streams keep both
  cores multiplying.
- **BLAS.** The products go through numpy's BLAS (OpenBLAS in the PyPI wheels). On the
  2-core AMD EPYC this was developed on, torch's CPU BLAS (MKL) ran these shapes at
  45-75% of OpenBLAS's rate (a 2048³ product: 122 against 172 GFLOP/s).

The work is a deterministic function of the pairs and ``workers``: a fixed partition, one
thread per part and a fixed order of summation. Mixing torch's threaded kernels into the loop
is avoided on purpose: OpenMP and BLAS threads spinning on the same two cores made the step
4x slower.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import ThreadpoolController
from torch import Tensor

CHUNK_PAIRS = 64


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


@dataclass
class ChunkPlan:
    """The chunks and their split over workers for one set of observed pairs.

    Attributes:
        n: the number of symbols.
        a: ``[m]`` the ``a`` of every pair, in the order of ``pairs`` (sorted by ``b``).
        starts: ``[n + 1]``, the pairs of ``b`` are ``starts[b]:starts[b + 1]``.
        chunks: the ``b``'s of every chunk (whole ``b``'s, ``b`` without pairs left out).
        parts: the chunks of every worker (contiguous, about equal numbers of pairs).
        most_pairs: the largest number of pairs in a chunk.
    """

    n: int
    a: np.ndarray
    starts: np.ndarray
    chunks: list[list[int]]
    parts: list[list[int]]
    most_pairs: int

    @classmethod
    def build(cls, a: Tensor, b: Tensor, n: int, workers: int,
              chunk_pairs: int = CHUNK_PAIRS) -> ChunkPlan:
        """The plan for pairs ``(a, b)`` sorted by ``b`` (as in :class:`~.model.Pairs`)."""
        if workers < 1 or chunk_pairs < 1:
            raise ValueError(f"workers, chunk_pairs: expected >= 1, received {workers!r} and "
                             f"{chunk_pairs!r}")
        b_np = b.cpu().numpy()
        if b_np.size and np.any(np.diff(b_np) < 0):
            raise ValueError("b: expected the pairs sorted by b")
        counts = np.bincount(b_np, minlength=n)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        chunks: list[list[int]] = []
        current: list[int] = []
        size = 0
        for sym in np.flatnonzero(counts).tolist():
            current.append(sym)
            size += int(counts[sym])
            if size >= chunk_pairs:
                chunks.append(current)
                current, size = [], 0
        if current:
            chunks.append(current)
        sizes = np.array([starts[c[-1] + 1] - starts[c[0]] for c in chunks], dtype=np.int64)
        ends = np.cumsum(sizes)
        total = int(ends[-1]) if len(ends) else 0
        cuts = np.searchsorted(ends, [total * k / workers for k in range(1, workers)])
        parts = [p.tolist() for p in np.split(np.arange(len(chunks)), cuts) if len(p)]
        return cls(n, a.cpu().numpy().astype(np.int64), starts, chunks, parts,
                   int(sizes.max()) if len(sizes) else 0)


class BlasWorkspace:
    """Per-worker scratch buffers and the plan, reused while the pairs stay the same."""

    def __init__(self, chunk_pairs: int = CHUNK_PAIRS) -> None:
        self.chunk_pairs = chunk_pairs
        self._key: tuple | None = None
        self.plan: ChunkPlan | None = None
        self.scratch: list[tuple[np.ndarray, ...]] = []

    def prepare(self, a: Tensor, b: Tensor, n: int, dtype: np.dtype, workers: int,
                ) -> tuple[ChunkPlan, list[tuple[np.ndarray, ...]]]:
        """The plan and, per part, ``(Aₛ, P, ∂A, ∂Cᵀ, a [n, n²] scratch)`` buffers."""
        key = (id(a), id(b), int(a.shape[0]), n, np.dtype(dtype), workers)
        if key == self._key and self.plan is not None:
            return self.plan, self.scratch
        plan = ChunkPlan.build(a, b, n, workers, self.chunk_pairs)
        k = max(plan.most_pairs, 1)
        self.scratch = [(np.empty((k, n, n), dtype), np.empty((k, n, n), dtype),
                         np.empty((n, n, n), dtype), np.empty((n, n * n), dtype),
                         np.empty((n, n * n), dtype)) for _ in plan.parts]
        self.plan, self._key = plan, key
        self._pairs = (a, b)  # keep the keyed tensors alive so that their ids stay theirs
        return plan, self.scratch


def loss_and_grad_blas(A: Tensor, B: Tensor, C: Tensor, a: Tensor, b: Tensor, target: Tensor,
                       workspace: BlasWorkspace | None = None, workers: int | None = None,
                       ) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor, Tensor]]:
    """``L``, the logits ``[m, n]`` and ``(∂L/∂A, ∂L/∂B, ∂L/∂C)`` on the CPU.

    Args:
        A, B, C: ``[n, n, n]`` CPU float32 or float64 factors.
        a, b: ``[m]`` the observed pairs, sorted by ``b``.
        target: ``[m, n]`` the target rows ``Y[a_p, b_p, :]``.
        workers: parallel parts (default ``torch.get_num_threads()``).
    """
    if A.device.type != "cpu" or A.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"A: expected float32 or float64 factors on the CPU, received "
                         f"{A.dtype} on {A.device}")
    n = int(A.shape[0])
    A_np, B_np, C_np = (x.detach().to(A.dtype).contiguous().numpy() for x in (A, B, C))
    dtype = A_np.dtype
    workers = workers if workers is not None else torch.get_num_threads()
    ws = workspace if workspace is not None else BlasWorkspace()
    plan, scratch = ws.prepare(a, b, n, dtype, workers)
    Y = target.detach().contiguous().numpy()
    ct = np.ascontiguousarray(C_np.transpose(0, 2, 1)).reshape(n, n * n)
    logits = np.empty((plan.a.shape[0], n), dtype)
    grad_b = np.zeros((n, n, n), dtype)
    losses = [0.0] * len(plan.parts)

    def run(part: int) -> None:
        stacked, products, grad_a, grad_ct, term = scratch[part]
        grad_a.fill(0)
        grad_ct.fill(0)
        total = 0.0
        for chunk in (plan.chunks[c] for c in plan.parts[part]):
            lo, hi = int(plan.starts[chunk[0]]), int(plan.starts[chunk[-1] + 1])
            k = hi - lo
            rows = plan.a[lo:hi]
            As, P = stacked[:k], products[:k]
            np.take(A_np, rows, axis=0, out=As, mode="clip")  # indices valid: no buffering
            spans = [(sym, int(plan.starts[sym]) - lo, int(plan.starts[sym + 1]) - lo)
                     for sym in chunk]
            for sym, s, e in spans:
                np.matmul(As[s:e].reshape(-1, n), B_np[sym], out=P[s:e].reshape(-1, n))
            flat = P.reshape(k, n * n)
            out = logits[lo:hi]
            np.matmul(flat, ct.T, out=out)
            out /= n
            g = out - Y[lo:hi]
            total += float(np.vdot(g, g))
            g *= 2.0 / n
            grad_ct += np.matmul(g.T, flat, out=term)
            np.matmul(g, ct, out=flat)  # P now holds ∂P
            for sym, s, e in spans:
                np.matmul(As[s:e].reshape(-1, n).T, P[s:e].reshape(-1, n), out=grad_b[sym])
                np.matmul(P[s:e].reshape(-1, n), B_np[sym].T, out=As[s:e].reshape(-1, n))
            for j, sym in enumerate(rows.tolist()):
                grad_a[sym] += As[j]
        losses[part] = total

    with _controller().limit(limits=1, user_api="blas"):
        if len(plan.parts) == 1:
            run(0)
        elif plan.parts:
            with ThreadPoolExecutor(len(plan.parts) - 1) as pool:
                others = [pool.submit(run, p) for p in range(1, len(plan.parts))]
                run(0)
                for f in others:
                    f.result()
    grad_a = np.zeros((n, n, n), dtype)
    grad_ct = np.zeros((n, n * n), dtype)
    for _, _, ga, gc, _ in scratch[:len(plan.parts)]:
        grad_a += ga
        grad_ct += gc
    grad_c = np.ascontiguousarray(grad_ct.reshape(n, n, n).transpose(0, 2, 1))
    loss = torch.tensor(sum(losses), dtype=A.dtype)
    return loss, torch.from_numpy(logits), tuple(
        torch.from_numpy(x) for x in (grad_a, grad_b, grad_c))
