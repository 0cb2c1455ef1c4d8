"""Batched matrix products of the chunked form, on torch or on parallel single-threaded BLAS.

The chunked form multiplies thousands of ``64 × 64`` blocks per call. On the 2-core AMD EPYC
this was developed on (busy with other work at the time), ``torch.bmm`` (MKL, two OpenMP
threads) ran a stack of 2048 such products at 16 GFLOP/s, and numpy's BLAS (OpenBLAS in the
PyPI wheels) called on half of the stack from each of two threads, with the BLAS itself
limited to one thread (``threadpoolctl``), at 44 GFLOP/s in the same process (single-threaded,
22 against 16), the arrangement of :mod:`prodint.hypercube.blas_step` too. :data:`BLAS` does
that for CPU tensors of float32 and float64 outside autograd, each worker also weighing (the
causal masks and decays) or accumulating its part of a product piece by piece while it is in
cache, and running its share of the heads through the chunk-to-chunk scans; :data:`TORCH`
is ``torch.matmul`` and torch's elementwise operations (the CUDA path and the differentiable
one). Both take stacks ``[..., m, k] @ [..., k, n]`` of any strides (strided views of the
inputs are read in place by the BLAS) and agree up to rounding.

Calls on :data:`BLAS` run inside :func:`region`, which holds a lock (the thread limits are
process-wide) for the whole of one forward or backward and limits the BLAS and torch to one
thread each: what little torch still computes between the products runs on the calling
thread, and no OpenMP worker spins on a core that a BLAS worker needs (on a busy machine,
two-thread ``tril_`` of a ``[2048, 64, 64]`` stack took 14 ms against 0.3 ms on one thread).
The workers are as many as torch's threads outside the region. :func:`share` runs whole jobs
on them instead (a worker's share of the heads through every product, on
:data:`SERIAL_BLAS`: :mod:`prodint.ops.tensor_attention.chunk_run`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, Protocol, TypeVar

import numpy as np
import torch
from threadpoolctl import ThreadpoolController
from torch import Tensor

T = TypeVar("T")
_LOCK = threading.Lock()
_WORKERS = [1]  # torch's thread count when the current region was entered


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="prodint-attention")


#: Blocks of a stack multiplied per BLAS call inside a worker: the product's output is still
#: in the core's cache when it is weighed or added (``32 × 64 × 64`` floats, 512 KiB).
PIECE_BLOCKS = 32


class _Product(Protocol):
    def __call__(self, x: Tensor, y: Tensor, out: Tensor | None = None,
                 weight: Tensor | None = None) -> Tensor: ...


class _AddProduct(Protocol):
    def __call__(self, acc: Tensor, x: Tensor, y: Tensor) -> Tensor: ...


class _Steps(Protocol):
    def __call__(self, loc: Tensor, step: Tensor | None, out: Tensor,
                 order: list[int]) -> None: ...


class Products(NamedTuple):
    """``mm(x, y, out=None, weight=None) = (x @ y) ⊙ weight`` (into ``out`` when given;
    ``weight`` broadcasts over the product) and ``addmm_(acc, x, y)``: ``acc += x @ y`` in
    place, on stacks ``[..., m, k]`` and ``[..., k, n]`` of the same leading shape and any
    strides; ``steps(loc, f, out, order)``: ``out[d] = loc[c] + f·out[c]`` for the successive
    pairs ``(c, d)`` of ``order``, on ``[N, B, H, r, c]`` stacks (``f``: ``[H, 1, 1]`` or
    ``None`` for 1), the chunk-to-chunk recurrence of the scans."""

    mm: _Product
    addmm_: _AddProduct
    steps: _Steps


def _torch_mm(x: Tensor, y: Tensor, out: Tensor | None = None,
              weight: Tensor | None = None) -> Tensor:
    if out is None:
        product = torch.matmul(x, y)
        return product if weight is None else product * weight
    torch.matmul(x, y, out=out)
    return out if weight is None else out.mul_(weight)


def _torch_addmm_(acc: Tensor, x: Tensor, y: Tensor) -> Tensor:
    return acc.add_(torch.matmul(x, y))


def _blas(x: Tensor, y: Tensor, out: Tensor, weight: Tensor | None, add: bool,
          workers: int) -> Tensor:
    """``out = (x @ y) ⊙ weight`` or ``out += x @ y`` by ``numpy.matmul``: one part of the
    stack per worker (split along the first dimension, which ``weight`` does not span), each
    part in pieces of about :data:`PIECE_BLOCKS` blocks."""
    lead = x.dim() - 2
    if not lead:  # one matrix: a stack of one
        _blas(x[None], y[None], out[None], weight, add, workers)
        return out
    xn, yn, on = x.detach().numpy(), y.detach().numpy(), out.numpy()
    wn = None if weight is None else weight.detach().numpy()
    step = max(1, PIECE_BLOCKS // max(1, int(np.prod(x.shape[1:lead]))))

    def run(lo: int, hi: int) -> None:
        for a in range(lo, hi, step):
            part = slice(a, min(a + step, hi))
            if add:
                on[part] += np.matmul(xn[part], yn[part])
            else:
                np.matmul(xn[part], yn[part], out=on[part])
            if wn is not None:
                np.multiply(on[part], wn, out=on[part])

    size = x.shape[0]
    if workers <= 1 or size < workers:
        run(0, size)
        return out
    cuts = [size * i // workers for i in range(workers + 1)]
    for job in [_pool(workers).submit(run, a, b) for a, b in itertools.pairwise(cuts)]:
        job.result()
    return out


def _blas_mm(x: Tensor, y: Tensor, out: Tensor | None = None,
             weight: Tensor | None = None, *, workers: int | None = None) -> Tensor:
    if out is None:
        out = torch.empty(*x.shape[:-1], y.shape[-1], dtype=x.dtype)
    return _blas(x, y, out, weight, False, _WORKERS[0] if workers is None else workers)


def _blas_addmm_(acc: Tensor, x: Tensor, y: Tensor, *, workers: int | None = None) -> Tensor:
    return _blas(x, y, acc, None, True, _WORKERS[0] if workers is None else workers)


def _torch_steps(loc: Tensor, step: Tensor | None, out: Tensor, order: list[int]) -> None:
    for c, d in itertools.pairwise(order):
        if step is None:
            torch.add(loc[c], out[c], out=out[d])
        else:
            torch.addcmul(loc[c], step, out[c], out=out[d])


def _blas_steps(loc: Tensor, step: Tensor | None, out: Tensor, order: list[int], *,
                workers: int | None = None) -> None:
    """The recurrence in numpy, the heads shared out between the workers."""
    ln, on = loc.detach().numpy(), out.numpy()
    fn = None if step is None else step.detach().numpy()
    heads = loc.shape[2]

    def run(lo: int, hi: int) -> None:
        lc, oc = ln[:, :, lo:hi], on[:, :, lo:hi]
        f = None if fn is None else fn[lo:hi]
        for c, d in itertools.pairwise(order):
            if f is None:
                np.add(lc[c], oc[c], out=oc[d])
            else:
                np.multiply(oc[c], f, out=oc[d])
                oc[d] += lc[c]

    workers = min(_WORKERS[0] if workers is None else workers, heads)
    if workers <= 1:
        run(0, heads)
        return
    cuts = [heads * i // workers for i in range(workers + 1)]
    for job in [_pool(workers).submit(run, a, b) for a, b in itertools.pairwise(cuts)]:
        job.result()


TORCH = Products(_torch_mm, _torch_addmm_, _torch_steps)
BLAS = Products(_blas_mm, _blas_addmm_, _blas_steps)
#: :data:`BLAS` on the calling thread alone: the products of one worker's share of the heads
#: (:func:`share`).
SERIAL_BLAS = Products(functools.partial(_blas_mm, workers=1),
                       functools.partial(_blas_addmm_, workers=1),
                       functools.partial(_blas_steps, workers=1))


def workers(products: Products) -> int:
    """How many workers ``products`` share a product between: the region's (torch's thread
    count when it was entered) for :data:`BLAS`, 1 otherwise."""
    return _WORKERS[0] if products is BLAS else 1


def share(jobs: list[Callable[[], T]]) -> list[T]:
    """Each job on a worker of the region's pool (inside :func:`region`, on :data:`BLAS`),
    the results in order; an error in a job is raised here, after every job has ended. The
    jobs run in the caller's grad mode (a thread's own starts enabled)."""
    mode = torch.is_grad_enabled()

    def call(job: Callable[[], T]) -> T:
        with torch.set_grad_enabled(mode):
            return job()

    futures = [_pool(_WORKERS[0]).submit(call, job) for job in jobs]
    concurrent.futures.wait(futures)
    return [f.result() for f in futures]


def products_for(x: Tensor) -> Products:
    """:data:`BLAS` for a CPU tensor of float32 or float64, else (and while ``torch.compile``
    traces, which cannot follow numpy's BLAS) :data:`TORCH`."""
    if (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and not torch.compiler.is_compiling()):
        return BLAS
    return TORCH


@contextlib.contextmanager
def region(products: Products) -> Iterator[None]:
    """The lock and the one-thread limits of the BLAS and of torch around calls on
    :data:`BLAS` (nothing for :data:`TORCH`)."""
    if products is not BLAS:
        yield
        return
    with _LOCK, _controller().limit(limits=1, user_api="blas"):
        threads = _WORKERS[0] = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
