"""The catalogue survey: each shipped algebra with its properties and defining identity checked.

:func:`survey` builds every algebra of the catalogue in float64, reads its properties
(unit, commutative, associative, alternative, chosen kernel) and checks its defining identity
against an independent computation (torch's complex product, ``conv1d``, ``matmul``, a loop
over the group table …), reporting the largest residual; :func:`section` is its report table,
which ``prodint catalogue`` and the demo print.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.algebra.catalogue import (
    clifford,
    complex_numbers,
    dual_numbers,
    group_algebra,
    hadamard,
    matrix_algebra,
    octonions,
    quaternions,
    real,
    tensor_product,
    truncated_polynomial,
)
from prodint.algebra.core import Algebra
from prodint.checks import check_float
from prodint.groups import cyclic, dihedral, symmetric
from prodint.report import Section
from prodint.surveys.fields import check_fields

__all__ = ["SurveyRow", "catalogue_entries", "section", "survey", "survey_algebra"]


@dataclass(frozen=True)
class SurveyRow:
    """One algebra's entry in the survey."""

    name: str
    dim: int
    nnz: int
    kernel: str
    unital: bool
    commutative: bool
    associative: bool
    alternative: bool
    identity: str
    residual: float

    def __post_init__(self) -> None:
        """Raises ``TypeError``/``ValueError`` for a field of the wrong kind, a negative count
        or a NaN residual (a failed identity has residual ``inf``)."""
        check_fields(self, texts=("name", "kernel", "identity"), counts=("dim", "nnz"),
                     flags=("unital", "commutative", "associative", "alternative"))
        check_float(self.residual, "residual", minimum=0.0, finite=False)

    @property
    def verified(self) -> bool:
        """Whether the defining identity held to float64 rounding (1e-10)."""
        return self.residual <= 1e-10


Check = Callable[[Algebra, Tensor, Tensor], Tensor]


def _complex(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
    ref = torch.view_as_real(torch.view_as_complex(x.contiguous()) *
                             torch.view_as_complex(y.contiguous()))
    return alg.mul(x, y) - ref


def _dual(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
    ref = torch.stack([x[:, 0] * y[:, 0], x[:, 1] * y[:, 0] + x[:, 0] * y[:, 1]], -1)
    return alg.mul(x, y) - ref


def _unit_cube(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
    del x, y
    e = alg.basis()
    ijk = alg.mul(alg.mul(e[1], e[2]), e[3])
    squares = torch.stack([alg.mul(e[k], e[k]) for k in range(1, 4)])
    return torch.cat([ijk + e[0], (squares + e[0]).flatten()])


def _composition(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
    return alg.mul(x, y).norm(dim=-1) - x.norm(dim=-1) * y.norm(dim=-1)


def _clifford(p: int, q: int, r: int) -> Check:
    def check(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
        del x, y
        e = alg.basis()
        n = p + q + r
        metric = [1.0] * p + [-1.0] * q + [0.0] * r
        out = []
        for i in range(n):
            for j in range(n):
                anti = alg.mul(e[1 + i], e[1 + j]) + alg.mul(e[1 + j], e[1 + i])
                out.append(anti - (2 * metric[i] * e[0] if i == j else 0))
        return torch.stack(out)

    return check


def _group_convolution(table: Tensor) -> Check:
    def check(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
        ref = torch.zeros_like(x)
        n = table.shape[0]
        for g in range(n):
            for h in range(n):
                ref[:, table[g, h]] += x[:, g] * y[:, h]
        return alg.mul(x, y) - ref

    return check


def _causal_conv(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
    n = alg.dim
    ref = torch.stack([
        F.conv1d(F.pad(x[i].view(1, 1, n), (n - 1, 0)), y[i].flip(0).view(1, 1, n)).view(n)
        for i in range(x.shape[0])
    ])
    return alg.mul(x, y) - ref


def _matmul(m: int) -> Check:
    def check(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
        return alg.mul(x, y) - (x.view(-1, m, m) @ y.view(-1, m, m)).view(x.shape)

    return check


def _pointwise(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
    return alg.mul(x, y) - x * y


def _kronecker(a: Algebra, b: Algebra) -> Check:
    def check(alg: Algebra, x: Tensor, y: Tensor) -> Tensor:
        del x, y
        g = torch.einsum("abc,ijk->aibjck", a.structure_constants, b.structure_constants)
        return alg.structure_constants - g.reshape(alg.dim, alg.dim, alg.dim)

    return check


def catalogue_entries() -> list[tuple[Callable[[], Algebra], str, Check]]:
    """``(constructor, defining identity, check)`` for every algebra the survey shows."""
    c4 = cyclic(4)
    d4 = dihedral(4)
    s3 = symmetric(3)
    return [
        (real, "x·y = xy", _pointwise),
        (complex_numbers, "equals torch complex multiplication", _complex),
        (dual_numbers, "(a+a'ε)(b+b'ε) = ab + (a'b+ab')ε", _dual),
        (quaternions, "i² = j² = k² = ijk = -1", _unit_cube),
        (octonions, "|xy| = |x||y| (composition algebra)", _composition),
        (lambda: clifford(3), "e_i e_j + e_j e_i = 2 g_ij", _clifford(3, 0, 0)),
        (lambda: clifford(1, 1, 1), "e_i e_j + e_j e_i = 2 g_ij", _clifford(1, 1, 1)),
        (lambda: group_algebra(c4), "equals convolution over C4", _group_convolution(c4.table)),
        (lambda: group_algebra(d4), "equals convolution over D4", _group_convolution(d4.table)),
        (lambda: group_algebra(s3), "equals convolution over S3", _group_convolution(s3.table)),
        (lambda: truncated_polynomial(6), "equals causal conv1d", _causal_conv),
        (lambda: matrix_algebra(3), "equals matmul", _matmul(3)),
        (lambda: hadamard(4), "equals pointwise product", _pointwise),
        (lambda: tensor_product(group_algebra(c4), complex_numbers()),
         "Γ = Γ_C4 ⊗ Γ_C (Kronecker)",
         _kronecker(group_algebra(c4).double(), complex_numbers().double())),
    ]


def survey_algebra(alg: Algebra, identity: str, check: Check) -> SurveyRow:
    """Properties of ``alg`` and the residual of its defining identity, in float64.

    ``check(alg, x, y)`` returns the residual tensor of the identity on random ``x, y``
    ``[16, dim]``; a residual that is not finite (or an empty one) is reported as ``inf``, a
    failed identity.

    Raises:
        TypeError: ``alg`` is not an :class:`~prodint.algebra.core.Algebra`, ``identity``
            not a str, ``check`` not callable or returning something other than a tensor.
    """
    if not isinstance(alg, Algebra):
        raise TypeError(f"alg: expected an Algebra, received {type(alg).__name__} "
                        f"{alg!r:.60}")
    if not isinstance(identity, str):
        raise TypeError(f"identity: expected a str, received {type(identity).__name__} "
                        f"{identity!r:.60}")
    if not callable(check):
        raise TypeError(f"check: expected a callable (alg, x, y) -> Tensor, received "
                        f"{type(check).__name__} {check!r:.60}")
    alg = alg.to_dtype(torch.float64)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 16, alg.dim, generator=gen, dtype=torch.float64)
    result = check(alg, x, y)
    if not isinstance(result, Tensor):
        raise TypeError(f"check: expected a callable returning a Tensor, received one "
                        f"returning {type(result).__name__}")
    residual = float(result.abs().max()) if result.numel() else math.inf
    residual = residual if math.isfinite(residual) else math.inf
    return SurveyRow(
        name=alg.name, dim=alg.dim, nnz=alg.nnz, kernel=alg.kernel,
        unital=alg.unit() is not None, commutative=alg.is_commutative(),
        associative=alg.is_associative(), alternative=alg.is_alternative(),
        identity=identity, residual=residual,
    )


def survey() -> list[SurveyRow]:
    """The survey of the whole catalogue."""
    return [survey_algebra(make(), identity, check)
            for make, identity, check in catalogue_entries()]


def section() -> Section:
    """The survey as a report table; it passes when every identity holds to 1e-10."""
    rows = survey()
    return Section(
        "Algebra catalogue",
        "Each algebra's defining identity is checked in float64 against an independent "
        "computation; the residual is the largest absolute difference.",
        ["algebra", "dim", "nnz", "kernel", "unit", "commutative", "associative",
         "alternative", "defining identity", "residual"],
        [[r.name, r.dim, r.nnz, r.kernel, r.unital, r.commutative, r.associative,
          r.alternative, r.identity, r.residual] for r in rows],
        passed=all(r.verified for r in rows),
    )
