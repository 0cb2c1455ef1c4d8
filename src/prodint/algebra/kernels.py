"""Multiplication kernels: several exact ways to compute ``(x·y)_c = Σ Γ[a,b,c] x_a y_b``.

Every kernel returns the same product as :func:`dense` (the reference, a planned two-step
contraction with the dense ``Γ``) up to floating-point rounding, gradients included:

========== ======================================================= =====================
kernel     how                                                     applies to
========== ======================================================= =====================
dense      ``T = x @ Γ.view(n, n²)``, then ``y @ T.view(n, n)``       every algebra
sparse     gather ``x_a``, ``y_b``; multiply by ``Γ``; scatter to c   every algebra
fft        ``irfftn(rfftn(x) · rfftn(y))`` on the group's grid       R[Z_n1 × … × Z_nk]
matmul     ``x.view(m, m) @ y.view(m, m)``                          M_m (basis E_ij)
elementwise ``x * y``                                               Hadamard R^n
========== ======================================================= =====================

Kernel choice (:func:`choose_kernel`) is made once per algebra by a cost rule: each kernel's
estimated time per batch element, in nanoseconds on a 2-core CPU (float32, large batch), is ::

    dense        0.02·n³·max(1, n/128)^0.8 + 0.2·n² + 20
    sparse       5·nnz + 30
    fft          n·log2(n) + 10
    matmul       0.1·n^1.5 + 2·n + 10
    elementwise  0.5·n + 5

and the cheapest applicable kernel wins. The dense term grows faster than ``n³`` once the
``n³`` tensor leaves the cache (``n > 128``); the sparse term is a gather, a multiply and a
scatter-add per triple. The constants were fitted to per-kernel timings of the catalogue
(``prodint bench algebra``) on such a machine; a user can always force a kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from prodint.algebra.core import Algebra


@dataclass(frozen=True)
class KernelHints:
    """Structure of an algebra that specialised kernels exploit.

    Attributes:
        cyclic_shape: ``(n1, …, nk)`` when the algebra is the group algebra of
            ``Z_n1 × … × Z_nk`` with row-major indexing (basis element ``(i1, …, ik)`` at the
            row-major index, product = componentwise addition mod ``n_i``).
        matrix_size: ``m`` when the algebra is ``M_m`` with ``E_ij`` at index ``i·m + j``.
        hadamard: whether the product is pointwise, ``Γ[a, b, c] = δ_ab δ_bc``.
    """

    cyclic_shape: tuple[int, ...] | None = None
    matrix_size: int | None = None
    hadamard: bool = False


def _broadcast(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    shape = torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    return x.expand(*shape, x.shape[-1]), y.expand(*shape, y.shape[-1])


def dense(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
    """Reference kernel: ``(x·y)_c = Σ_b y_b (Σ_a x_a Γ[a, b, c])``.

    The contraction order is fixed (x first, then y): both orders cost ``n³`` per batch element
    and this one needs a single ``[..., n, n]`` intermediate.
    """
    n = alg.dim
    gamma = alg.dense_structure_constants().reshape(n, n * n)
    left = (x @ gamma).unflatten(-1, (n, n))  # [..., b, c]
    return (y.unsqueeze(-2) @ left).squeeze(-2)


def sparse(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
    """Gather-multiply-scatter over the triples: ``out[c] += Γ · x[a] · y[b]`` (a span)."""
    x, y = _broadcast(x, y)
    a, b, c = alg.triples.unbind(-1)
    terms = x.index_select(-1, a) * y.index_select(-1, b) * alg.values
    out = terms.new_zeros(*terms.shape[:-1], alg.dim)
    return out.index_add(-1, c, terms)


def fft(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
    """Group algebra of an abelian group ``Z_n1 × … × Z_nk``: circular convolution by FFT."""
    shape = alg.hints.cyclic_shape
    assert shape is not None
    if len(shape) == 1:  # the 1-D transforms skip rfftn's extra bookkeeping
        n = shape[0]
        return torch.fft.irfft(torch.fft.rfft(x) * torch.fft.rfft(y), n=n)
    dims = tuple(range(-len(shape), 0))
    xf = torch.fft.rfftn(x.unflatten(-1, shape), dim=dims)
    yf = torch.fft.rfftn(y.unflatten(-1, shape), dim=dims)
    out = torch.fft.irfftn(xf * yf, s=shape, dim=dims)
    return out.flatten(-len(shape))


def matmul(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
    """Matrix algebra ``M_m``: the product of the ``m × m`` coordinate matrices."""
    m = alg.hints.matrix_size
    assert m is not None
    return (x.unflatten(-1, (m, m)) @ y.unflatten(-1, (m, m))).flatten(-2)


def elementwise(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
    """Hadamard algebra: the pointwise product."""
    del alg
    return x * y


KERNELS: dict[str, Callable[[Algebra, Tensor, Tensor], Tensor]] = {
    "dense": dense,
    "sparse": sparse,
    "fft": fft,
    "matmul": matmul,
    "elementwise": elementwise,
}


def applicable_kernels(alg: Algebra) -> list[str]:
    """Kernels that compute ``alg``'s product exactly."""
    names = ["dense", "sparse"]
    if alg.hints.cyclic_shape is not None:
        names.append("fft")
    if alg.hints.matrix_size is not None:
        names.append("matmul")
    if alg.hints.hadamard:
        names.append("elementwise")
    return names


def check_applicable(alg: Algebra, name: str, *, argument: str) -> None:
    """Raise a ``ValueError`` naming ``argument`` unless kernel ``name`` applies to ``alg``."""
    if name not in KERNELS:
        raise ValueError(
            f"{argument}: expected one of {sorted(KERNELS)} or 'auto', received {name!r}"
        )
    usable = applicable_kernels(alg)
    if name not in usable:
        raise ValueError(
            f"{argument}: kernel {name!r} does not apply to {alg.name}; expected one of {usable}"
        )


def kernel_costs(alg: Algebra) -> dict[str, float]:
    """Estimated nanoseconds per batch element of each applicable kernel (see module doc)."""
    n = float(alg.dim)
    costs = {
        "dense": 0.02 * n**3 * max(1.0, n / 128.0) ** 0.8 + 0.2 * n**2 + 20.0,
        "sparse": 5.0 * alg.nnz + 30.0,
    }
    if alg.hints.cyclic_shape is not None:
        costs["fft"] = n * math.log2(max(n, 2.0)) + 10.0
    if alg.hints.matrix_size is not None:
        costs["matmul"] = 0.1 * n**1.5 + 2.0 * n + 10.0
    if alg.hints.hadamard:
        costs["elementwise"] = 0.5 * n + 5.0
    return costs


def choose_kernel(alg: Algebra) -> str:
    """The applicable kernel with the lowest estimated cost."""
    costs = kernel_costs(alg)
    return min(costs, key=costs.__getitem__)
