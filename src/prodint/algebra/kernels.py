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

A kernel applies when the algebra's :class:`~prodint.algebra.hints.KernelHints` say so (hints
are checked against the structure constants when the algebra is built) and it computes in the
algebra's dtype (:data:`KERNEL_DTYPES`: ``fft`` in float32/float64 only, the others also in
float16/bfloat16). ``dense`` applies while its ``[n, n, n]`` tensor fits in the memory budget
of :func:`prodint.checks.memory_limit`; forcing it beyond refuses with the estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from prodint.checks import FLOATING, check_choice, check_instance, check_memory, memory_limit

if TYPE_CHECKING:
    from prodint.algebra.core import Algebra


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


#: The multiplication kernels by name, each ``kernel(algebra, x, y) -> x·y``; the cost rule of
#: :func:`choose_kernel` picks one per algebra.
KERNELS: dict[str, Callable[[Algebra, Tensor, Tensor], Tensor]] = {
    "dense": dense,
    "sparse": sparse,
    "fft": fft,
    "matmul": matmul,
    "elementwise": elementwise,
}


#: The dtypes each kernel computes in: torch's FFTs have no half-precision CPU path (and on
#: CUDA only for power-of-two sizes), so ``fft`` is float32/float64; the others are matmuls,
#: gathers and products that run in every floating dtype.
KERNEL_DTYPES: dict[str, tuple[torch.dtype, ...]] = {
    name: FLOATING if name == "fft" else (torch.float16, torch.bfloat16, *FLOATING)
    for name in KERNELS
}


def check_algebra(alg: object, argument: str) -> Algebra:
    """``alg`` if it is an :class:`~prodint.algebra.core.Algebra`, else a ``TypeError``."""
    from prodint.algebra.core import Algebra

    return check_instance(alg, argument, Algebra, name="prodint.algebra.Algebra")


def dense_bytes(alg: Algebra) -> int:
    """Bytes of the dense ``[n, n, n]`` structure constants in ``alg``'s dtype."""
    return alg.dim**3 * alg.values.element_size()


def workspace_bytes(alg: Algebra, name: str, batch: int) -> int:
    """Bytes of the intermediates kernel ``name`` allocates for ``batch`` products: the
    ``[..., n, n]`` contraction of ``dense``, the gathered ``[..., nnz]`` terms of ``sparse``,
    the spectra of ``fft``, one ``[..., n]`` buffer for the others."""
    per = {"dense": alg.dim**2, "sparse": 3 * alg.nnz, "fft": 4 * alg.dim}.get(name, alg.dim)
    return batch * per * alg.values.element_size()


def applicable_kernels(alg: Algebra) -> list[str]:
    """Kernels that compute ``alg``'s product exactly in its dtype (``dense`` only while its
    ``[n, n, n]`` tensor fits in :func:`prodint.checks.memory_limit`)."""
    names = ["sparse"]
    if dense_bytes(alg) <= memory_limit():
        names.insert(0, "dense")
    if alg.hints.cyclic_shape is not None:
        names.append("fft")
    if alg.hints.matrix_size is not None:
        names.append("matmul")
    if alg.hints.hadamard:
        names.append("elementwise")
    return [name for name in names if alg.dtype in KERNEL_DTYPES[name]]


def check_applicable(alg: Algebra, name: object, *, argument: str) -> str:
    """``name`` if kernel ``name`` applies to ``alg``, else a ``ValueError`` naming
    ``argument`` (with the memory estimate for a dense kernel that does not fit, and the
    supported dtypes for a kernel that does not compute in ``alg``'s)."""
    check_choice(name, argument, list(KERNELS))
    assert isinstance(name, str)
    usable = alg.available_kernels()
    if name not in usable:
        if name == "dense":
            check_memory(dense_bytes(alg), argument, f"dense [n, n, n] structure constants "
                                                     f"(n = {alg.dim})")
        if alg.dtype not in KERNEL_DTYPES[name]:
            names = ", ".join(str(d).removeprefix("torch.") for d in KERNEL_DTYPES[name])
            raise ValueError(f"{argument}: kernel {name!r} computes in {names}, not in "
                             f"{alg.dtype} ({alg.name}); expected one of {usable}")
        raise ValueError(
            f"{argument}: kernel {name!r} does not apply to {alg.name}; expected one of {usable}"
        )
    return name


def kernel_costs(alg: Algebra) -> dict[str, float]:
    """Estimated nanoseconds per batch element of each applicable kernel (see module doc).

    Raises:
        TypeError: ``alg`` is not an :class:`~prodint.algebra.core.Algebra`.
    """
    alg = check_algebra(alg, "alg")
    n = float(alg.dim)
    costs = {
        "dense": 0.02 * n**3 * max(1.0, n / 128.0) ** 0.8 + 0.2 * n**2 + 20.0,
        "sparse": 5.0 * alg.nnz + 30.0,
        "fft": n * math.log2(max(n, 2.0)) + 10.0,
        "matmul": 0.1 * n**1.5 + 2.0 * n + 10.0,
        "elementwise": 0.5 * n + 5.0,
    }
    return {name: costs[name] for name in alg.available_kernels()}


def choose_kernel(alg: Algebra) -> str:
    """The applicable kernel with the lowest estimated cost.

    Raises:
        TypeError: ``alg`` is not an :class:`~prodint.algebra.core.Algebra`.
    """
    costs = kernel_costs(alg)
    return min(costs, key=costs.__getitem__)
