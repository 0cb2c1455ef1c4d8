"""The observed-pair step on the CPU: parts of pairs on parallel single-threaded BLAS.

The mathematics is that of :func:`prodint.hypercube.model.loss_and_grad` (see
:mod:`prodint.hypercube.model`): ``P_p = A_{a_p} B_{b_p}``, ``T[p, c] = ⟨P_p, C_cᵀ⟩ / n``,
``G = 2 (T − Y) / n``, ``∂P_p = Σ_c G[p, c] C_cᵀ``, ``∂C_c = Σ_p G[p, c] P_pᵀ``,
``∂A_a = Σ_{p: a_p = a} ∂P_p B_{b_p}ᵀ``, ``∂B_b = Σ_{p: b_p = b} A_{a_p}ᵀ ∂P_p``: six products of
``2 m n³`` FLOPs. Only their order of work differs, organised for a CPU:

- **Parts and chunks** (:mod:`.blas_plan`). The pairs, sorted by ``b``, are cut into one part
  of equal pairs (equal FLOPs) per worker, and each part into chunks of whole ``b`` spans of
  ``chunk_pairs`` pairs or more. Each chunk runs all six products before the next starts: per
  chunk of ``k`` pairs, ``Aₛ = A[a_p]`` (``[k, n, n]``, gathered once and used by three
  products), ``P = Aₛ B_b`` per ``b``, logits ``= P ctᵀ / n`` (``ct[c, (i, j)] = C_c[j, i]``),
  ``Gᵀ P`` added into ``∂C``, ``∂P = G ct`` (over ``P``), ``∂B_bᵀ = Σ_p ∂P_pᵀ A_{a_p}`` and
  ``∂P B_bᵀ`` (over ``Aₛ``) added into ``∂A`` row by row. The ``[m, n, n]`` products are never
  held whole: per worker two ``[k, n, n]`` buffers (``k`` at most ``chunk_pairs`` plus the
  pairs of one ``b``) and three ``n³`` accumulators. The chunk trades the cost of the three
  products over the chunk (``[k, n²] × [n², n]``, ``[n, k] × [k, n²]``, ``[k, n] × [n, n²]``,
  slow for a short ``k``) and of adding ``∂C``'s ``[n, n²]`` term once per chunk against
  memory: on the 2-core AMD EPYC this was developed on (32 MB L3), the step at Z_97,
  fraction 0.5, took 0.86-0.93 of its time at 192 pairs with 768 (four alternating runs,
  per ``b``), the same at n = 120 (S_5); 768 pairs make 31 MB buffers for Z_97 (123 MB for
  both workers, against 354 MB for ``P`` and ``∂P`` of the all-pairs form).
- **Per b or per pair.** The ``n × n`` products (``P``, ``∂B_bᵀ``, ``∂A``) run as one
  BLAS call per ``b`` (``[s n, n] × [n, n]`` for the ``s`` pairs of ``b``, and
  ``[n, s n] × [s n, n]`` for ``∂B_bᵀ``) or, with ``per_pair=True``, as one ``n × n × n``
  call per pair (numpy's batched ``matmul``, which OpenBLAS runs with its small-matrix
  kernels without packing for products of at most ``100³`` multiply-adds; ``∂B_bᵀ`` as the
  sum of its per-pair terms). Which is faster depends on the machine: measured on one core
  at n = 97 on one host, ``P`` ran at 80 against 71 GFLOP/s per ``b``; on another, the
  whole step at Z_97 took 0.92-0.98 of the per-pair time per ``b`` in four alternating
  runs, which is the default. The results agree to rounding.
- **Workers.** Each part runs in its own thread with the BLAS limited to one thread
  (``threadpoolctl``), into its own ``∂A`` and ``∂C`` accumulators. A second parallel phase
  splits the symbols between the workers and writes the results: the sum of the parts'
  accumulators (in part order), ``∂C`` and ``∂B`` transposed back, and, in
  :func:`objective_and_grad_blas`, ``ε ∂H`` (see below). A product of a few ``n = 97``
  matrices is too small to share between cores: split across two threads it waits on their
  synchronization, whereas two independent streams keep both cores multiplying.
- **H in the same phases.** The Gram sums ``Lˣ = Σ X_xᵀX_x`` and ``Rˣ = Σ X_x X_xᵀ`` (six
  ``2 n⁴`` products, shared out between the workers before their chunks) give
  ``H = [⟨Lᴬ, Rᴮ⟩ + ⟨Lᴮ, Rᶜ⟩ + ⟨Lᶜ, Rᴬ⟩] / n`` and
  ``∂H/∂A_a = 2 (A_a Rᴮ + Lᶜ A_a) / n`` (cyclically), computed per symbol range in the
  second phase.
- **BLAS.** The products go through numpy's BLAS (OpenBLAS in the PyPI wheels). On the
  2-core AMD EPYC this was developed on, torch's CPU BLAS (MKL) ran these shapes at 48-85%
  of OpenBLAS's rate in the same process.

The result is a deterministic function of the pairs, ``workers``, ``chunk_pairs`` and
``per_pair``: a fixed partition, one thread per part and a fixed order of summation
(``workers`` defaults to ``torch.get_num_threads()``, so the last bits can differ between
machines). Mixing torch's threaded kernels into the loop is avoided on purpose: OpenMP and
BLAS threads spinning on the same two cores made the step 4x slower. Calls are serialized by
a lock: the BLAS thread limit is process-wide, and a step already occupies every core.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch
from threadpoolctl import ThreadpoolController
from torch import Tensor

from prodint.checks import check_bool, check_float, check_int
from prodint.hypercube.blas_plan import ChunkPlan, Span

#: Pairs per chunk, at least (module doc).
CHUNK_PAIRS = 768
_STEP_LOCK = threading.Lock()


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    """The helper threads for the tasks after the first (the caller runs the first)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="prodint-blas")


def _parallel(tasks: list[Callable[[], None]]) -> None:
    """Runs the tasks at once (the first in the caller) and re-raises the first error."""
    others = [_pool(len(tasks) - 1).submit(t) for t in tasks[1:]]
    try:
        if tasks:
            tasks[0]()
    finally:
        for f in others:
            f.result()


class Scratch(NamedTuple):
    """One worker's buffers: ``[k, n, n]`` twice, ``[k, n]``, ``[n, n, n]``, ``[n, n²]``
    twice, the ``[n, n]`` ``∂B_bᵀ`` of a continuation span and ``B_bᵀ``, and the per-pair
    terms of ``∂B_bᵀ`` (``[s, n, n]``, ``s`` the most pairs of one ``b``; ``s = 0`` unless
    the products run per pair)."""

    stacked: np.ndarray
    products: np.ndarray
    residual: np.ndarray
    grad_a: np.ndarray
    grad_ct: np.ndarray
    term: np.ndarray
    carry: np.ndarray
    transposed_b: np.ndarray
    pair_terms: np.ndarray


class BlasWorkspace:
    """The plan and the buffers, reused while the pairs stay the same.

    Args:
        chunk_pairs: pairs per chunk (at least; whole ``b`` spans).
        workers: parallel parts (default ``torch.get_num_threads()`` at each call).
        per_pair: run the ``n × n`` products (``P``, ``∂B``, ``∂A``) as one BLAS call per pair
            instead of one per ``b`` (module doc).

    Raises:
        TypeError: ``chunk_pairs`` or ``workers`` is not an int, ``per_pair`` not a bool.
        ValueError: ``chunk_pairs`` or ``workers`` below 1.
    """

    def __init__(self, chunk_pairs: int = CHUNK_PAIRS, workers: int | None = None,
                 per_pair: bool = False) -> None:
        self._chunk_pairs = check_int(chunk_pairs, "chunk_pairs", minimum=1)
        self.workers = None if workers is None else check_int(workers, "workers", minimum=1)
        self.per_pair = check_bool(per_pair, "per_pair")
        self._key: tuple[object, ...] | None = None
        self._pairs: tuple[Tensor, Tensor] | None = None
        self.plan: ChunkPlan | None = None
        self.scratch: list[Scratch] = []
        self.grad_bt = np.empty(0)
        self.transposed = np.empty(0)
        self.h_terms: list[np.ndarray] = []

    @property
    def chunk_pairs(self) -> int:
        """Pairs per chunk (fixed at construction)."""
        return self._chunk_pairs

    def prepare(self, a: Tensor, b: Tensor, n: int, dtype: np.dtype, workers: int,
                ) -> tuple[ChunkPlan, list[Scratch]]:
        """The plan and one :class:`Scratch` per part for these pairs."""
        key = (id(a), a._version, id(b), b._version, int(a.shape[0]), n, np.dtype(dtype),
               workers, self.per_pair)
        if key == self._key and self.plan is not None:
            return self.plan, self.scratch
        plan = ChunkPlan.build(a, b, n, workers, self._chunk_pairs)
        k = plan.most_pairs
        s = int(np.diff(plan.starts).max(initial=0)) if self.per_pair else 0
        self.scratch = [Scratch(np.empty((k, n, n), dtype), np.empty((k, n, n), dtype),
                                np.empty((k, n), dtype), np.empty((n, n, n), dtype),
                                np.empty((n, n * n), dtype), np.empty((n, n * n), dtype),
                                np.empty((n, n), dtype), np.empty((n, n), dtype),
                                np.empty((s, n, n), dtype)) for _ in plan.parts]
        self.grad_bt = np.zeros((n, n, n), dtype)  # rows of b without pairs stay 0
        self.transposed = np.empty((4, n, n * n), dtype)  # Aᵗ, Bᵗ, Cᵗ for Rˣ, then ct
        rows = -(-n // max(len(plan.parts), 1))
        self.h_terms = [np.empty((rows, n, n), dtype) for _ in range(max(len(plan.parts), 1))]
        self.plan, self._key = plan, key
        self._pairs = (a, b)  # keep the keyed tensors alive so that their ids stay theirs
        return plan, self.scratch


class BlasObjective(NamedTuple):
    """The result of :func:`objective_and_grad_blas`.

    Attributes:
        loss: ``L`` (0-dim).
        h: ``H`` (0-dim).
        logits: ``[m, n]`` the predictions ``T[p, :]``.
        grads: ``(∂/∂A, ∂/∂B, ∂/∂C)`` of ``L + εH``, each ``[n, n, n]``.
        grams: ``(Lᴬ, Rᴬ, Lᴮ, Rᴮ, Lᶜ, Rᶜ)``, each ``[n, n]``.
    """

    loss: Tensor
    h: Tensor
    logits: Tensor
    grads: tuple[Tensor, Tensor, Tensor]
    grams: tuple[Tensor, ...]


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

    Raises:
        ValueError: factors not ``[n, n, n]`` float32/float64 CPU tensors of one dtype,
            ``target`` not ``[m, n]``, or pairs as :meth:`ChunkPlan.build` refuses.

    The returned tensors are new arrays every call (no scratch buffer is handed out).
    """
    loss, _, logits, grads, _ = _step(A, B, C, a, b, target, workspace, None)
    return loss, logits, grads


def objective_and_grad_blas(A: Tensor, B: Tensor, C: Tensor, a: Tensor, b: Tensor,
                            target: Tensor, eps: float,
                            workspace: BlasWorkspace | None = None) -> BlasObjective:
    """``L``, ``H``, the logits and the gradient of ``L + εH`` in one parallel call.

    The arguments are those of :func:`loss_and_grad_blas` plus ``eps`` (``ε ≥ 0``, finite);
    ``H`` and the Gram sums are computed for any ``ε`` (also 0). Equal to
    :func:`loss_and_grad_blas` plus ``ε`` times :func:`~.model.h_value_and_grad`.

    Raises:
        TypeError: ``eps`` is not a real number.
        ValueError: ``eps`` negative or not finite; the errors of :func:`loss_and_grad_blas`.
    """
    check_float(eps, "eps", minimum=0.0)
    loss, h, logits, grads, grams = _step(A, B, C, a, b, target, workspace, float(eps))
    assert h is not None and grams is not None
    return BlasObjective(loss, h, logits, grads, grams)


def _step(A: Tensor, B: Tensor, C: Tensor, a: Tensor, b: Tensor, target: Tensor,
          workspace: BlasWorkspace | None, eps: float | None,
          ) -> tuple[Tensor, Tensor | None, Tensor, tuple[Tensor, Tensor, Tensor],
                     tuple[Tensor, ...] | None]:
    _check(A, B, C, target, int(a.shape[0]))
    n = int(A.shape[0])
    factors = [x.detach().contiguous().numpy() for x in (A, B, C)]
    A_np, B_np, C_np = factors
    dtype = A_np.dtype
    ws = workspace if workspace is not None else BlasWorkspace()
    workers = ws.workers if ws.workers is not None else torch.get_num_threads()
    plan, scratch = ws.prepare(a, b, n, dtype, workers)
    Y = target.detach().to(A.dtype).contiguous().numpy()
    ct = ws.transposed[3]
    ct.reshape(n, n, n)[...] = C_np.transpose(0, 2, 1)
    logits = np.empty((plan.a.shape[0], n), dtype)
    grads = [np.empty((n, n, n), dtype) for _ in range(3)]
    losses = [0.0] * len(plan.parts)
    grams: list[np.ndarray] = [np.empty(0)] * 6  # LA, RA, LB, RB, LC, RC
    count = max(len(plan.parts), 1)

    def gram(item: int) -> None:
        X, Xt = factors[item // 2], ws.transposed[item // 2]
        if item % 2 == 0:
            flat = X.reshape(n * n, n)
            grams[item] = flat.T @ flat  # Σ X_xᵀ X_x
        else:
            Xt.reshape(n, n, n)[...] = X.transpose(1, 0, 2)  # Xt[i, (x, j)] = X_x[i, j]
            grams[item] = Xt @ Xt.T  # Σ X_x X_xᵀ

    def chunks(part: int) -> None:
        if eps is not None:  # Lᴬ, Rᴮ, Lᶜ to the first of two workers, Rᴬ, Lᴮ, Rᶜ to the other
            for item in (0, 1, 3, 2, 4, 5)[part::count]:
                gram(item)
        if part < len(plan.parts):
            losses[part] = _run_part(plan, part, scratch[part], A_np, B_np, ct, Y, logits,
                                     ws.grad_bt, ws.per_pair)

    def finish(worker: int) -> None:
        lo, hi = n * worker // count, n * (worker + 1) // count
        grad_a, grad_b, grad_c = (g[lo:hi] for g in grads)
        if not scratch:
            grad_a.fill(0)
            grad_c.fill(0)
        for index, s in enumerate(scratch):  # in part order
            part_c = s.grad_ct.reshape(n, n, n)[lo:hi].transpose(0, 2, 1)
            if index == 0:
                np.copyto(grad_a, s.grad_a[lo:hi])
                np.copyto(grad_c, part_c)
            else:
                grad_a += s.grad_a[lo:hi]
                grad_c += part_c
        np.copyto(grad_b, ws.grad_bt[lo:hi].transpose(0, 2, 1))
        if eps:
            LA, RA, LB, RB, LC, RC = grams
            scale = 2.0 * eps / n
            term = ws.h_terms[worker][:hi - lo]
            for k, (out, left, right) in enumerate(((grad_a, LC, RB), (grad_b, LA, RC),
                                                    (grad_c, LB, RA))):
                X = factors[k][lo:hi]
                np.matmul(X.reshape(-1, n), scale * right, out=term.reshape(-1, n))
                out += term
                np.matmul(scale * left, X, out=term)
                out += term

    with _STEP_LOCK, _controller().limit(limits=1, user_api="blas"):
        _parallel([functools.partial(chunks, p) for p in range(count)])
        _parallel([functools.partial(finish, w) for w in range(count)])
    for part, s in zip(plan.parts, scratch, strict=True):
        if plan.is_continuation(part[0][0]):
            grads[1][part[0][0].symbol] += s.carry.T
    loss = torch.tensor(sum(losses), dtype=A.dtype)
    grad_tensors = (torch.from_numpy(grads[0]), torch.from_numpy(grads[1]),
                    torch.from_numpy(grads[2]))
    if eps is None:
        return loss, None, torch.from_numpy(logits), grad_tensors, None
    LA, RA, LB, RB, LC, RC = grams
    h = (np.vdot(LA, RB) + np.vdot(LB, RC) + np.vdot(LC, RA)) / n
    return (loss, torch.tensor(float(h), dtype=A.dtype), torch.from_numpy(logits),
            grad_tensors, tuple(torch.from_numpy(g) for g in grams))


def _run_part(plan: ChunkPlan, part: int, buffers: Scratch, A: np.ndarray, B: np.ndarray,
              ct: np.ndarray, Y: np.ndarray, logits: np.ndarray, grad_bt: np.ndarray,
              per_pair: bool) -> float:
    """The chunks of one part: fills its accumulators, logits and ``∂B_bᵀ``; returns its
    ``L``."""
    n = plan.n
    stacked, products, residual, grad_a, grad_ct, term, carry, bt, pair_terms = buffers
    grad_a.fill(0)
    total = 0.0
    for index, chunk in enumerate(plan.parts[part]):
        lo, hi = chunk[0].start, chunk[-1].stop
        k = hi - lo
        rows = plan.a[lo:hi]
        As, P = stacked[:k], products[:k]
        np.take(A, rows, axis=0, out=As, mode="clip")  # indices checked: no buffering

        def span(s: Span, x: np.ndarray, lo: int = lo) -> np.ndarray:
            part = x[s.start - lo:s.stop - lo]  # [s, n, n]: per pair, [s n, n]: per b
            return part if per_pair else part.reshape(-1, n)

        for s in chunk:
            np.matmul(span(s, As), B[s.symbol], out=span(s, P))
        flat = P.reshape(k, n * n)
        out = logits[lo:hi]
        np.matmul(flat, ct.T, out=out)
        out /= n
        g = np.subtract(out, Y[lo:hi], out=residual[:k])
        total += float(np.vdot(g, g))
        g *= 2.0 / n
        if index == 0:
            np.matmul(g.T, flat, out=grad_ct)
        else:
            grad_ct += np.matmul(g.T, flat, out=term)
        np.matmul(g, ct, out=flat)  # P now holds ∂P
        for s in chunk:
            dest = carry if plan.is_continuation(s) else grad_bt[s.symbol]
            if per_pair:  # ∂B_bᵀ = Σ ∂P_pᵀ A_{a_p}, one product per pair, then the sum
                terms = pair_terms[:s.stop - s.start]
                np.matmul(span(s, P).transpose(0, 2, 1), span(s, As), out=terms)
                np.sum(terms, axis=0, out=dest)
            else:
                np.matmul(span(s, P).T, span(s, As), out=dest)
            np.copyto(bt, B[s.symbol].T)
            np.matmul(span(s, P), bt, out=span(s, As))
        for j, a_sym in enumerate(rows.tolist()):
            grad_a[a_sym] += As[j]
    return total
