"""The catalogue of algebras: number systems, Clifford, group, polynomial, matrix, Hadamard.

Each constructor returns an :class:`~prodint.algebra.core.Algebra` in the default dtype with
its sparse structure constants, basis names and the hints its fast kernel needs. Sizes are
checked before anything is built: an algebra whose triples would not fit in the memory budget
(:func:`prodint.checks.memory_limit`) is refused with the estimate (``ValueError`` naming the
size argument), as is a size that is not an int (``TypeError``) or below 1.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from prodint.algebra.arguments import check_data, check_real_dtype, check_structure_size
from prodint.algebra.core import Algebra
from prodint.algebra.hints import KernelHints, hint_failure
from prodint.algebra.kernels import check_algebra
from prodint.checks import check_instance, check_int, check_tensor

if TYPE_CHECKING:
    from prodint.groups import Group


def _from_table(
    entries: list[tuple[int, int, int, float]], dim: int, **kwargs: object
) -> Algebra:
    triples = torch.tensor([e[:3] for e in entries], dtype=torch.long).reshape(-1, 3)
    values = torch.tensor([e[3] for e in entries], dtype=torch.get_default_dtype())
    return Algebra(triples, values, dim, **kwargs)  # type: ignore[arg-type]


def real() -> Algebra:
    """The real numbers ``R``: one basis element with ``1·1 = 1``."""
    return _from_table([(0, 0, 0, 1.0)], 1, basis_names=["1"], name="R",
                       hints=KernelHints(hadamard=True, cyclic_shape=(1,), matrix_size=1))


def complex_numbers() -> Algebra:
    """The complex numbers ``C`` with basis ``(1, i)`` and ``i² = -1``."""
    table = [(0, 0, 0, 1.0), (0, 1, 1, 1.0), (1, 0, 1, 1.0), (1, 1, 0, -1.0)]
    return _from_table(table, 2, basis_names=["1", "i"], name="C")


def dual_numbers() -> Algebra:
    """The dual numbers ``R[ε]/(ε²)`` with basis ``(1, ε)``; equal to ``R[z]/(z²)``."""
    table = [(0, 0, 0, 1.0), (0, 1, 1, 1.0), (1, 0, 1, 1.0)]
    return _from_table(table, 2, basis_names=["1", "eps"], name="D")


def quaternions() -> Algebra:
    """Hamilton's quaternions ``H``, basis ``(1, i, j, k)``, ``i² = j² = k² = ijk = -1``."""
    names = ["1", "i", "j", "k"]
    # e_a e_b for the imaginary units: ij = k, jk = i, ki = j and the reverse with a sign.
    table = [(0, b, b, 1.0) for b in range(4)] + [(a, 0, a, 1.0) for a in range(1, 4)]
    table += [(a, a, 0, -1.0) for a in range(1, 4)]
    for a, b, c in [(1, 2, 3), (2, 3, 1), (3, 1, 2)]:
        table += [(a, b, c, 1.0), (b, a, c, -1.0)]
    return _from_table(table, 4, basis_names=names, name="H")


#: Oriented lines of the Fano plane: e_i e_j = e_k for (i, j, k) and its cyclic shifts.
_FANO = [(1, 2, 3), (1, 4, 5), (1, 7, 6), (2, 4, 6), (2, 5, 7), (3, 4, 7), (3, 6, 5)]


def octonions() -> Algebra:
    """The octonions ``O`` (basis ``1, e1 … e7``): alternative, not associative.

    ``e_i² = -1``, ``e_i e_j = -e_j e_i`` and ``e_i e_j = e_k`` on the oriented lines of the
    Fano plane ``(123), (145), (176), (246), (257), (347), (365)`` and their cyclic shifts.
    """
    table = [(0, b, b, 1.0) for b in range(8)] + [(a, 0, a, 1.0) for a in range(1, 8)]
    table += [(a, a, 0, -1.0) for a in range(1, 8)]
    for i, j, k in _FANO:
        for a, b, c in [(i, j, k), (j, k, i), (k, i, j)]:
            table += [(a, b, c, 1.0), (b, a, c, -1.0)]
    names = ["1"] + [f"e{i}" for i in range(1, 8)]
    return _from_table(table, 8, basis_names=names, name="O")


def clifford(p: int, q: int = 0, r: int = 0) -> Algebra:
    """The Clifford algebra ``Cl(p, q, r)`` of dimension ``2^(p+q+r)``.

    Generators ``e1 … e_{p+q+r}``: the first ``p`` square to ``+1``, the next ``q`` to ``-1``
    and the last ``r`` to ``0``; distinct generators anticommute. Basis blades are ordered by
    grade, then lexicographically: ``1, e1, e2, e3, e12, e13, e23, e123``. The product of two
    blades is the sign of the permutation that sorts their concatenated generators, times the
    squares of the generators they share.

    Raises:
        TypeError: ``p``, ``q`` or ``r`` is not an int.
        ValueError: one is negative, or ``p + q + r > 10`` (``4^10`` blade products).
    """
    p, q, r = (check_int(v, a, minimum=0) for v, a in [(p, "p"), (q, "q"), (r, "r")])
    n = p + q + r
    if n > 10:
        raise ValueError(f"p + q + r: expected at most 10 generators, received {n}")
    metric = [1.0] * p + [-1.0] * q + [0.0] * r
    blades = [
        blade for grade in range(n + 1) for blade in itertools.combinations(range(n), grade)
    ]
    index = {blade: i for i, blade in enumerate(blades)}
    table = []
    for ia, blade_a in enumerate(blades):
        for ib, blade_b in enumerate(blades):
            sign, result = _blade_product(blade_a, blade_b, metric)
            if sign != 0.0:
                table.append((ia, ib, index[result], sign))
    sep = "" if n < 10 else "_"
    names = ["1"] + ["e" + sep.join(str(g + 1) for g in blade) for blade in blades[1:]]
    return _from_table(table, 2**n, basis_names=names, name=f"Cl({p},{q},{r})")


def _blade_product(
    a: tuple[int, ...], b: tuple[int, ...], metric: list[float]
) -> tuple[float, tuple[int, ...]]:
    """Multiply two sorted blades: bubble-sort the concatenation, contracting equal pairs."""
    word = list(a) + list(b)
    sign = 1.0
    # Insertion sort counts transpositions; each swap of distinct generators flips the sign.
    for i in range(1, len(word)):
        j = i
        while j > 0 and word[j - 1] > word[j]:
            word[j - 1], word[j] = word[j], word[j - 1]
            sign = -sign
            j -= 1
    out: list[int] = []
    for g in word:
        if out and out[-1] == g:
            out.pop()
            sign *= metric[g]
        else:
            out.append(g)
    return sign, tuple(out)


def group_algebra(group: Group) -> Algebra:
    """The group algebra ``R[G]``: ``Γ[a, b, c] = 1`` iff ``a∘b = c``.

    For ``G = Z_n`` the product is circular convolution, for ``Z_n × Z_m`` 2-D circular
    convolution, for dihedral groups group convolution.

    Raises:
        TypeError: ``group`` is not a :class:`prodint.groups.Group`.
        ValueError: the ``|G|²`` structure constants do not fit in the memory budget.
    """
    from prodint.groups import Group

    check_instance(group, "group", Group, name="prodint.groups.Group")
    n = group.order
    check_structure_size(n * n, n, "group")
    a, b = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    triples = torch.stack([a.flatten(), b.flatten(), group.table.flatten()], -1)
    values = torch.ones(n * n, dtype=torch.get_default_dtype())
    return Algebra(triples, values, n, basis_names=group.element_names,
                   name=f"R[{group.name}]", hints=KernelHints(cyclic_shape=group.cyclic_shape))


def truncated_polynomial(n: int) -> Algebra:
    """``R[z]/(z^n)``: ``z^a z^b = z^(a+b)`` if ``a + b < n``, else 0 (causal convolution).

    Raises:
        TypeError: ``n`` is not an int.
        ValueError: ``n < 1``, or the ``n(n+1)/2`` structure constants do not fit in the memory
            budget.
    """
    n = check_int(n, "n", minimum=1)
    check_structure_size(n * (n + 1) // 2, n, "n")
    # (c, a) over the lower triangle a <= c: z^a z^(c-a) = z^c.
    c, a = torch.tril_indices(n, n)
    triples = torch.stack([a, c - a, c], -1)
    values = torch.ones(triples.shape[0], dtype=torch.get_default_dtype())
    names = ["1"] + [f"z^{k}" if k > 1 else "z" for k in range(1, n)]
    return Algebra(triples, values, n, basis_names=names, name=f"R[z]/z^{n}")


def matrix_algebra(n: int) -> Algebra:
    """``M_n``: basis ``E_ij`` at index ``i·n + j`` with ``E_ij E_kl = δ_jk E_il``.

    Raises:
        TypeError: ``n`` is not an int.
        ValueError: ``n < 1``, or the ``n³`` structure constants do not fit in the memory
            budget.
    """
    n = check_int(n, "n", minimum=1)
    check_structure_size(n**3, n * n, "n")
    i, j, k = torch.meshgrid(torch.arange(n), torch.arange(n), torch.arange(n), indexing="ij")
    triples = torch.stack([(i * n + j).flatten(), (j * n + k).flatten(), (i * n + k).flatten()], -1)
    values = torch.ones(n**3, dtype=torch.get_default_dtype())
    names = [f"E{a}{b}" if n <= 10 else f"E{a}_{b}" for a in range(n) for b in range(n)]
    return Algebra(triples, values, n * n, basis_names=names, name=f"M{n}",
                   hints=KernelHints(matrix_size=n))


def hadamard(n: int) -> Algebra:
    """``R^n`` with the pointwise product ``e_a e_b = δ_ab e_a`` (gating).

    Raises:
        TypeError: ``n`` is not an int.
        ValueError: ``n < 1``, or the ``n`` structure constants and names do not fit in the
            memory budget.
    """
    n = check_int(n, "n", minimum=1)
    check_structure_size(n, n, "n")
    idx = torch.arange(n)
    triples = torch.stack([idx, idx, idx], -1)
    values = torch.ones(n, dtype=torch.get_default_dtype())
    return Algebra(triples, values, n, basis_names=[f"h{a}" for a in range(n)],
                   name=f"Hadamard{n}", hints=KernelHints(hadamard=True))


def tensor_product(a: Algebra, b: Algebra) -> Algebra:
    """``A ⊗ B``: basis ``e_i ⊗ f_j`` at index ``i·dim(B) + j``; ``Γ`` is the Kronecker product.

    ``(e_i ⊗ f_j)(e_k ⊗ f_l) = (e_i e_k) ⊗ (f_j f_l)``. Tensor products of abelian group
    algebras stay abelian group algebras (and keep the FFT kernel), of Hadamard algebras stay
    Hadamard.

    Raises:
        TypeError: ``a`` or ``b`` is not an :class:`Algebra`, or their dtypes differ.
        ValueError: they are on two devices, or the ``nnz(a)·nnz(b)`` structure constants do
            not fit in the memory budget.
    """
    a, b = check_algebra(a, "a"), check_algebra(b, "b")
    if a.dtype != b.dtype:
        raise TypeError(f"b: expected dtype {a.dtype} (that of a), received {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"b: expected an algebra on {a.device} (that of a), received one on "
                         f"{b.device}")
    check_structure_size(a.nnz * b.nnz, a.dim * b.dim, "a, b")
    m = b.dim
    ta, tb = a.triples, b.triples
    triples = (ta.unsqueeze(1) * m + tb.unsqueeze(0)).reshape(-1, 3)
    values = (a.values.unsqueeze(1) * b.values.unsqueeze(0)).reshape(-1)
    ha, hb = a.hints, b.hints
    cyclic = None
    if ha.cyclic_shape is not None and hb.cyclic_shape is not None:
        cyclic = ha.cyclic_shape + hb.cyclic_shape
    hints = KernelHints(cyclic_shape=cyclic, hadamard=ha.hadamard and hb.hadamard)
    names = [f"{x}⊗{y}" for x in a.basis_names for y in b.basis_names]
    return Algebra(triples, values, a.dim * m, basis_names=names,
                   name=f"{a.name}⊗{b.name}", hints=hints)


def from_structure_constants(
    structure_constants: Tensor,
    *,
    basis_names: list[str] | None = None,
    name: str | None = None,
) -> Algebra:
    """An algebra from a dense ``[n, n, n]`` tensor ``Γ`` (``e_a e_b = Σ_c Γ[a,b,c] e_c``).

    Hadamard, matrix-algebra and cyclic-group structure is recognised so the fast kernels
    apply. Integer tensors are converted to the default floating dtype.

    Raises:
        TypeError: ``structure_constants`` is not a real tensor (complex, bool), or a name is
            not a str.
        ValueError: it is not a non-empty cubic ``[n, n, n]`` tensor, or holds NaN/inf.
    """
    g = check_data(check_tensor(structure_constants, "structure_constants", dtypes=None),
                   "structure_constants")
    check_real_dtype(g, "structure_constants")
    if g.dim() != 3 or not (g.shape[0] == g.shape[1] == g.shape[2]) or g.shape[0] == 0:
        raise ValueError(
            f"structure_constants: expected a cubic [n, n, n] tensor, received shape "
            f"{tuple(g.shape)}"
        )
    if not g.dtype.is_floating_point:
        g = g.to(torch.get_default_dtype())
    if not torch.isfinite(g).all():
        raise ValueError("structure_constants: expected finite values, received NaN or inf")
    n = g.shape[0]
    triples = g.nonzero()
    values = g[tuple(triples.unbind(-1))]
    alg = Algebra(triples, values, n, basis_names=basis_names, name=name)
    hints = _recognise(alg)
    if hints != KernelHints():
        alg = Algebra(alg.triples, alg.values, n, basis_names=basis_names, name=name, hints=hints)
    return alg


def _recognise(alg: Algebra) -> KernelHints:
    """The Hadamard, matrix-algebra and cyclic-group hints that hold for ``alg`` exactly."""
    n = alg.dim
    m = math.isqrt(n)
    candidates = [KernelHints(hadamard=True), KernelHints(cyclic_shape=(n,))]
    if m * m == n:
        candidates.append(KernelHints(matrix_size=m))
    found = [h for h in candidates if hint_failure(alg.triples, alg.values, n, h) is None]
    return KernelHints(
        cyclic_shape=next((h.cyclic_shape for h in found if h.cyclic_shape), None),
        matrix_size=next((h.matrix_size for h in found if h.matrix_size), None),
        hadamard=any(h.hadamard for h in found),
    )
