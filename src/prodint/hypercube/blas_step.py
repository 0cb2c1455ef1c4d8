"""The observed-pair step on the CPU: chunks of pairs on parallel single-threaded BLAS.

The mathematics is that of :func:`prodint.hypercube.model.loss_and_grad` (see
:mod:`prodint.hypercube.model`): ``P_p = A_{a_p} B_{b_p}``, ``T[p, c] = ⟨P_p, C_cᵀ⟩ / n``,
``G = 2 (T − Y) / n``, ``∂P_p = Σ_c G[p, c] C_cᵀ``, ``∂C_c = Σ_p G[p, c] P_pᵀ``,
``∂A_a = Σ_{p: a_p = a} ∂P_p B_{b_p}ᵀ``, ``∂B_b = Σ_{p: b_p = b} A_{a_p}ᵀ ∂P_p``: six products of
``2 m n³`` FLOPs. Only their order of work differs, organised for a CPU:

- **Chunks.** The pairs, sorted by ``b``, are cut into chunks of whole ``b``'s, each closed
  once it holds ``chunk_pairs`` pairs or more (the last may hold fewer). Each chunk runs all
  six products before the next starts: per chunk of ``k`` pairs, ``Aₛ = A[a_p]``
  (``[k, n, n]``, gathered), ``P = Aₛ B_b`` per ``b``, logits ``= P ctᵀ / n``
  (``ct[c, (i, j)] = C_c[j, i]``), ``Gᵀ P`` added into ``∂C``, ``∂P = G ct`` (over ``P``),
  ``∂B_b = Aₛᵀ ∂P`` and ``∂P B_bᵀ`` (over ``Aₛ``) added into ``∂A`` row by row. The
  ``[m, n, n]`` products are never held whole: per worker two ``[k, n, n]`` buffers (k at
  most ``chunk_pairs + n − 1``; 4.3 MB each for Z_97 at fraction 0.5 in float32) and three
  ``n³`` accumulators (11 MB) stand for the 177 MB ``P`` and ``∂P`` of the all-pairs form
  (``m ≈ n²/2`` pairs at n = 97).
- **Workers.** The chunks are split into at most ``workers`` contiguous parts of about equal
  pairs (a chunk goes to the part its midpoint falls in); each part runs in its own thread
  with the BLAS limited to one thread (``threadpoolctl``), into its own ``∂A`` and ``∂C``
  accumulators, summed at the end in part order. A product of a few ``n = 97`` matrices is
  too small to share between cores: split across two threads it waits on their
  synchronization, whereas two independent streams keep both cores multiplying.
- **BLAS.** The products go through numpy's BLAS (OpenBLAS in the PyPI wheels). On the
  2-core AMD EPYC this was developed on, torch's CPU BLAS (MKL) ran the all-pairs shapes
  at 48-85% of OpenBLAS's rate in the same process (``[m, n] × [n, n²]``: 58 against
  122 GFLOP/s; blocks ``[16n, n] × [n, n]``: 69 against 91), though square products ran at
  similar rates in both.

The result is a deterministic function of the pairs, ``workers`` and ``chunk_pairs``: a
fixed partition, one thread per part and a fixed order of summation (``workers`` defaults to
``torch.get_num_threads()``, so the last bits can differ between machines). Mixing torch's
threaded kernels into the loop is avoided on purpose: OpenMP and BLAS threads spinning on the
same two cores made the step 4x slower. Calls are serialized by a lock: the BLAS thread limit
is process-wide, and a step already occupies every core.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from threadpoolctl import ThreadpoolController
from torch import Tensor

CHUNK_PAIRS = 64
_STEP_LOCK = threading.Lock()


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    """The helper threads for the parts after the first (the caller runs the first)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="prodint-blas")


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
        a_np, b_np = (x.detach().cpu().numpy().astype(np.int64) for x in (a, b))
        if a_np.ndim != 1 or a_np.shape != b_np.shape:
            raise ValueError(f"a, b: expected two [m] index vectors, received shapes "
                             f"{tuple(a.shape)} and {tuple(b.shape)}")
        for name, x in (("a", a_np), ("b", b_np)):
            if x.size and (x.min() < 0 or x.max() >= n):
                raise ValueError(f"{name}: expected symbols in [0, {n}), received "
                                 f"{int(x.min())}..{int(x.max())}")
        if np.any(np.diff(b_np) < 0):
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
        total = max(int(ends[-1]) if len(ends) else 0, 1)
        owner = np.minimum((ends - sizes / 2) * workers // total, workers - 1).astype(np.int64)
        parts = [np.flatnonzero(owner == w).tolist() for w in range(workers)]
        return cls(n, a_np, starts, chunks, [p for p in parts if p],
                   int(sizes.max()) if len(sizes) else 0)


class Scratch(NamedTuple):
    """One worker's buffers: ``[k, n, n]`` twice, ``[n, n, n]``, ``[n, n²]`` twice."""

    stacked: np.ndarray
    products: np.ndarray
    grad_a: np.ndarray
    grad_ct: np.ndarray
    term: np.ndarray


class BlasWorkspace:
    """The plan and per-worker scratch buffers, reused while the pairs stay the same.

    Args:
        chunk_pairs: pairs per chunk (at least; whole ``b``'s).
        workers: parallel parts (default ``torch.get_num_threads()`` at each call).
    """

    def __init__(self, chunk_pairs: int = CHUNK_PAIRS, workers: int | None = None) -> None:
        if chunk_pairs < 1 or (workers is not None and workers < 1):
            raise ValueError(f"chunk_pairs, workers: expected >= 1, received {chunk_pairs!r} "
                             f"and {workers!r}")
        self._chunk_pairs = chunk_pairs
        self.workers = workers
        self._key: tuple[object, ...] | None = None
        self._pairs: tuple[Tensor, Tensor] | None = None
        self.plan: ChunkPlan | None = None
        self.scratch: list[Scratch] = []

    @property
    def chunk_pairs(self) -> int:
        """Pairs per chunk (fixed at construction)."""
        return self._chunk_pairs

    def prepare(self, a: Tensor, b: Tensor, n: int, dtype: np.dtype, workers: int,
                ) -> tuple[ChunkPlan, list[Scratch]]:
        """The plan and one :class:`Scratch` per part for these pairs."""
        key = (id(a), a._version, id(b), b._version, int(a.shape[0]), n, np.dtype(dtype),
               workers)
        if key == self._key and self.plan is not None:
            return self.plan, self.scratch
        plan = ChunkPlan.build(a, b, n, workers, self._chunk_pairs)
        k = plan.most_pairs
        self.scratch = [Scratch(np.empty((k, n, n), dtype), np.empty((k, n, n), dtype),
                                np.empty((n, n, n), dtype), np.empty((n, n * n), dtype),
                                np.empty((n, n * n), dtype)) for _ in plan.parts]
        self.plan, self._key = plan, key
        self._pairs = (a, b)  # keep the keyed tensors alive so that their ids stay theirs
        return plan, self.scratch


def _check(A: Tensor, B: Tensor, C: Tensor, target: Tensor, m: int) -> None:
    n = int(A.shape[0])
    for name, x in (("A", A), ("B", B), ("C", C)):
        if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"{name}: expected float32 or float64 factors on the CPU, "
                             f"received {x.dtype} on {x.device}")
        if x.shape != (n, n, n) or x.dtype != A.dtype:
            raise ValueError(f"{name}: expected a [{n}, {n}, {n}] {A.dtype} tensor like A, "
                             f"received {tuple(x.shape)} {x.dtype}")
    if target.shape != (m, n):
        raise ValueError(f"target: expected [{m}, {n}] (one row per pair), received "
                         f"{tuple(target.shape)}")


def loss_and_grad_blas(A: Tensor, B: Tensor, C: Tensor, a: Tensor, b: Tensor, target: Tensor,
                       workspace: BlasWorkspace | None = None,
                       ) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor, Tensor]]:
    """``L``, the logits ``[m, n]`` and ``(∂L/∂A, ∂L/∂B, ∂L/∂C)`` on the CPU.

    Args:
        A, B, C: ``[n, n, n]`` CPU factors, all float32 or all float64.
        a, b: ``[m]`` the observed pairs, sorted by ``b``.
        target: ``[m, n]`` the target rows ``Y[a_p, b_p, :]`` (cast to the factors' dtype).
        workspace: the plan and buffers to reuse across steps (also sets ``chunk_pairs`` and
            ``workers``); a fresh one when omitted.

    The returned tensors are new arrays every call (no scratch buffer is handed out).
    """
    _check(A, B, C, target, int(a.shape[0]))
    n = int(A.shape[0])
    A_np, B_np, C_np = (x.detach().contiguous().numpy() for x in (A, B, C))
    dtype = A_np.dtype
    ws = workspace if workspace is not None else BlasWorkspace()
    workers = ws.workers if ws.workers is not None else torch.get_num_threads()
    plan, scratch = ws.prepare(a, b, n, dtype, workers)
    Y = target.detach().to(A.dtype).contiguous().numpy()
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
            np.take(A_np, rows, axis=0, out=As, mode="clip")  # indices checked: no buffering
            spans = [(b_sym, int(plan.starts[b_sym]) - lo, int(plan.starts[b_sym + 1]) - lo)
                     for b_sym in chunk]
            for b_sym, s, e in spans:
                np.matmul(As[s:e].reshape(-1, n), B_np[b_sym], out=P[s:e].reshape(-1, n))
            flat = P.reshape(k, n * n)
            out = logits[lo:hi]
            np.matmul(flat, ct.T, out=out)
            out /= n
            g = out - Y[lo:hi]
            total += float(np.vdot(g, g))
            g *= 2.0 / n
            grad_ct += np.matmul(g.T, flat, out=term)
            np.matmul(g, ct, out=flat)  # P now holds ∂P
            for b_sym, s, e in spans:
                np.matmul(As[s:e].reshape(-1, n).T, P[s:e].reshape(-1, n), out=grad_b[b_sym])
                np.matmul(P[s:e].reshape(-1, n), B_np[b_sym].T, out=As[s:e].reshape(-1, n))
            for j, a_sym in enumerate(rows.tolist()):
                grad_a[a_sym] += As[j]
        losses[part] = total

    with _STEP_LOCK, _controller().limit(limits=1, user_api="blas"):
        others = [_pool(len(plan.parts) - 1).submit(run, p) for p in range(1, len(plan.parts))]
        try:
            if plan.parts:
                run(0)
        finally:
            for f in others:
                f.result()
    grad_a = np.zeros((n, n, n), dtype)
    grad_ct = np.zeros((n, n * n), dtype)
    for buffers in scratch:
        grad_a += buffers.grad_a
        grad_ct += buffers.grad_ct
    grad_c = np.ascontiguousarray(grad_ct.reshape(n, n, n).transpose(0, 2, 1))
    loss = torch.tensor(sum(losses), dtype=A.dtype)
    grads = (torch.from_numpy(grad_a), torch.from_numpy(grad_b), torch.from_numpy(grad_c))
    return loss, torch.from_numpy(logits), grads
