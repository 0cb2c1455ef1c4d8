"""Kernel hints: the structure fast kernels exploit, and their check against ``Γ``.

A hint says that the structure constants are those of an abelian group algebra, of a matrix
algebra or of the Hadamard product. Each is a statement about the sparse triples that can be
verified in ``O(nnz)``: the triples of such an algebra are a known set of ``N`` distinct
triples with value 1 (``N = n²`` for a group algebra, ``m³`` for ``M_m``, ``n`` for Hadamard),
so coalesced triples hold the hint exactly when there are ``N`` of them, each of the set's
form and of value 1. :class:`~prodint.algebra.core.Algebra` checks every hint it is given, so
a false hint is refused instead of silently selecting a kernel that computes another product.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from prodint.checks import check_bool, check_int, describe


@dataclass(frozen=True)
class KernelHints:
    """Structure of an algebra that specialised kernels exploit.

    Attributes:
        cyclic_shape: ``(n1, …, nk)`` when the algebra is the group algebra of
            ``Z_n1 × … × Z_nk`` with row-major indexing (basis element ``(i1, …, ik)`` at the
            row-major index, product = componentwise addition mod ``n_i``). A sequence of
            positive ints, stored as a tuple.
        matrix_size: ``m`` when the algebra is ``M_m`` with ``E_ij`` at index ``i·m + j``.
        hadamard: whether the product is pointwise, ``Γ[a, b, c] = δ_ab δ_bc``.

    Raises:
        TypeError: a field of the wrong kind (a float or bool size, a str shape, an int flag).
        ValueError: an empty shape or a size below 1.
    """

    cyclic_shape: tuple[int, ...] | None = None
    matrix_size: int | None = None
    hadamard: bool = False

    def __post_init__(self) -> None:
        shape = self.cyclic_shape
        if shape is not None:
            if isinstance(shape, str) or not isinstance(shape, Sequence):
                raise TypeError(f"cyclic_shape: expected a tuple of positive ints or None, "
                                f"received {describe(shape)}")
            if not shape:
                raise ValueError("cyclic_shape: expected a non-empty tuple of positive ints, "
                                 "received ()")
            object.__setattr__(self, "cyclic_shape", tuple(
                check_int(size, "cyclic_shape", minimum=1) for size in shape))
        if self.matrix_size is not None:
            check_int(self.matrix_size, "matrix_size", minimum=1)
        check_bool(self.hadamard, "hadamard")


def _digits(index: Tensor, shape: tuple[int, ...]) -> list[Tensor]:
    """The row-major coordinates of flat indices on the grid ``shape``."""
    out = []
    for size in reversed(shape):
        out.append(index % size)
        index = index // size
    return out[::-1]


def _first_bad(ok: Tensor, triples: Tensor, values: Tensor) -> str:
    k = int((~ok).nonzero()[0, 0])
    a, b, c = (int(t) for t in triples[k])
    return f"Γ[{a}, {b}, {c}] = {float(values[k]):g}"


def hint_failure(triples: Tensor, values: Tensor, dim: int, hints: KernelHints) -> str | None:
    """Why ``hints`` do not hold for coalesced ``triples``/``values`` of dimension ``dim``
    (one sentence naming the hint), or ``None`` when every hint holds."""
    a, b, c = triples.unbind(-1)
    nnz = int(values.shape[0])
    one = values == 1
    if hints.hadamard:
        if nnz != dim:
            return (f"hadamard=True, but the algebra has {nnz} structure constants where the "
                    f"Hadamard algebra of dimension {dim} has {dim}")
        ok = (a == c) & (b == c) & one
        if not bool(ok.all()):
            return f"hadamard=True, but {_first_bad(ok, triples, values)} (not δ_ab δ_bc)"
    m = hints.matrix_size
    if m is not None:
        if m * m != dim or nnz != m**3:
            return (f"matrix_size={m}, but the algebra has dimension {dim} and {nnz} structure "
                    f"constants where M_{m} has dimension {m * m} and {m**3}")
        ok = (a % m == b // m) & (a // m == c // m) & (b % m == c % m) & one
        if not bool(ok.all()):
            return (f"matrix_size={m}, but {_first_bad(ok, triples, values)} "
                    f"(not E_ij E_kl = δ_jk E_il)")
    shape = hints.cyclic_shape
    if shape is not None:
        if math.prod(shape) != dim or nnz != dim * dim:
            return (f"cyclic_shape={shape}, but the algebra has dimension {dim} and {nnz} "
                    f"structure constants where the group algebra has dimension "
                    f"{math.prod(shape)} and {math.prod(shape) ** 2}")
        ok = one.clone()
        for da, db, dc, size in zip(_digits(a, shape), _digits(b, shape), _digits(c, shape),
                                    shape, strict=True):
            ok &= (da + db) % size == dc
        if not bool(ok.all()):
            return (f"cyclic_shape={shape}, but {_first_bad(ok, triples, values)} (not "
                    f"addition mod {shape})")
    return None
