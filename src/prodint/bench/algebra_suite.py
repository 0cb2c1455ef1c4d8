"""Suite ``algebra``: every multiplication kernel against the dense contraction and torch.

For each algebra and dimension (8, 64, 512 where meaningful) the suite times every applicable
kernel, the automatic choice (``auto``) and, where torch has one, the native equivalent
(``native``: FFT circular convolution for ``Z_n``, ``matmul`` for ``M_m``, ``x * y`` for
Hadamard). Ratios are against ``dense``; the ``auto`` record also carries ``best_impl`` and
``auto_over_best`` (target ≤ 1.2), and every record its ratio against ``native`` when there is
one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from prodint.algebra import (
    Algebra,
    clifford,
    group_algebra,
    hadamard,
    matrix_algebra,
    octonions,
    truncated_polynomial,
)
from prodint.bench.harness import Case, Record, timed_case
from prodint.groups import cyclic

Native = Callable[[Tensor, Tensor], Tensor]


def _native_cyclic(n: int) -> Native:
    def conv(x: Tensor, y: Tensor) -> Tensor:
        return torch.fft.irfft(torch.fft.rfft(x) * torch.fft.rfft(y), n=n)

    return conv


def _native_matmul(m: int) -> Native:
    def mm(x: Tensor, y: Tensor) -> Tensor:
        return (x.view(-1, m, m) @ y.view(-1, m, m)).view(x.shape)

    return mm


def problems(quick: bool) -> Iterator[tuple[Algebra, Native | None]]:
    """The algebras measured, each with its native torch equivalent (or ``None``)."""
    dims = (8, 64) if quick else (8, 64, 512)
    for n in dims:
        yield group_algebra(cyclic(n)), _native_cyclic(n)
        yield hadamard(n), torch.mul
        yield truncated_polynomial(n), None
        yield clifford({8: 3, 64: 6, 512: 9}[n]), None
    for m in (3, 8) if quick else (3, 8, 22):
        yield matrix_algebra(m), _native_matmul(m)
    yield octonions(), None


def _batch(n: int, quick: bool) -> int:
    full = {8: 8192, 9: 8192, 64: 1024, 484: 96, 512: 96}.get(n, 256)
    return max(8, full // 16) if quick else full


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    """Benchmark cases for every problem: kernels, ``auto`` and ``native``."""
    for alg, native in problems(quick):
        alg = alg.to(device)
        n = alg.dim
        batch = _batch(n, quick)
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(batch, n, generator=gen).to(device).requires_grad_()
        y = torch.randn(batch, n, generator=gen).to(device).requires_grad_()
        name = f"{alg.name} batch={batch}"
        params = {"algebra": alg.name, "dim": n, "nnz": alg.nnz, "batch": batch,
                  "auto_kernel": alg.kernel, "device": device}
        impls: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
            k: (lambda a, b, k=k, alg=alg: alg.mul(a, b, kernel=k))
            for k in alg.available_kernels()
        }
        impls["auto"] = alg.mul
        if native is not None:
            impls["native"] = native
        for impl, fn in impls.items():
            yield timed_case(name, impl, params, lambda fn=fn, x=x, y=y: fn(x, y), [x, y],
                             baseline="dense")


def annotate(records: list[Record]) -> None:
    """Add ratios against ``native`` and, on ``auto``, how far it is from the best kernel."""
    groups: dict[str, dict[str, Record]] = {}
    for r in records:
        groups.setdefault(r.name, {})[r.impl] = r
    for by_impl in groups.values():
        native = by_impl.get("native")
        kernels = {k: r for k, r in by_impl.items() if k not in ("auto", "native")}
        best = min(kernels.values(), key=lambda r: r.fwd_ms)
        for r in by_impl.values():
            if native is not None:
                r.extra["ratio_fwd_vs_native"] = round(r.fwd_ms / native.fwd_ms, 4)
                if r.fwd_bwd_ms and native.fwd_bwd_ms:
                    r.extra["ratio_fwd_bwd_vs_native"] = round(r.fwd_bwd_ms / native.fwd_bwd_ms, 4)
        auto = by_impl["auto"]
        auto.extra["best_impl"] = best.impl
        auto.extra["auto_over_best"] = round(auto.fwd_ms / best.fwd_ms, 4)
