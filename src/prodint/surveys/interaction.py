"""The interaction survey shown by the demo: orders, exactness, symmetry, the design space.

- :func:`library_rows`: every expression of :mod:`prodint.interaction.library` with its order,
  its printed mathematics and the largest difference between the compiled module and the
  reference evaluation (float64, forward).
- :func:`symmetry_rows`: learned structure constants constrained by ``C4``, ``D4`` (regular
  representations) and ``S3`` (permuting 3 points): dimension of the equivariant space, the
  worst equivariance error over all group elements, and the symmetry penalty of a free ``Γ``.
- :func:`design_space_rows`: how many candidates of the design space
  (:mod:`prodint.interaction.space`) each order has, and the classical layers among them.

:func:`library_section`, :func:`symmetry_section` and :func:`design_space_section` are their
report tables; :func:`constrain_section` shows symmetry as an operation on expressions (the
facts of :mod:`prodint.interaction.symmetry_facts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from prodint.algebra import group_algebra, quaternions
from prodint.algebra.learned import LearnedAlgebra
from prodint.checks import check_int
from prodint.groups import (
    Representation,
    cyclic,
    dihedral,
    permutation,
    regular,
    symmetric,
    symmetric_permutations,
)
from prodint.interaction import library
from prodint.interaction.layer import compile
from prodint.interaction.space import enumerate_space, parse_space
from prodint.interaction.symmetry_facts import Fact, symmetry_facts
from prodint.report import Section
from prodint.surveys.fields import check_fields

__all__ = [
    "LibraryRow",
    "SymmetryRow",
    "constrain_section",
    "design_space_rows",
    "design_space_section",
    "library_rows",
    "library_section",
    "symmetry_rows",
    "symmetry_section",
]


@dataclass(frozen=True)
class LibraryRow:
    """One library expression: its order, parameter count, compiled-vs-reference error."""

    name: str
    order: int
    parameters: int
    max_error: float
    expression: str

    def __post_init__(self) -> None:
        """Raises ``TypeError``/``ValueError`` for a field of the wrong kind."""
        check_fields(self, texts=("name", "expression"), counts=("order", "parameters"),
                     numbers=("max_error",))


def library_rows() -> list[LibraryRow]:
    """Each library expression compiled in float64 and checked against the reference."""
    exprs = {
        "dense": library.dense(8, 8),
        "conv1d k=3": library.conv1d(8, 8, 3, padding=1),
        "GLU": library.glu(8, 16),
        "bilinear over H": library.bilinear(8, quaternions()),
        "bilinear over R[C8]": library.bilinear(8, group_algebra(cyclic(8))),
        "linear attention": library.linear_attention(8, 4, 4, causal=True),
        "softmax attention": library.softmax_attention(8, 4, 4, causal=True),
        "tensor attention": library.tensor_attention(8, 4, 4),
    }
    rows = []
    gen = torch.Generator().manual_seed(0)
    for name, expr in exprs.items():
        module = compile(expr, dtype=torch.float64, generator=gen)
        x = torch.randn(2, 12, 8, dtype=torch.float64, generator=gen)
        with torch.no_grad():
            error = float((module(x) - module.reference(x)).abs().max())
        count = sum(p.numel() for p in module.parameters())
        rows.append(LibraryRow(name, expr.self_interaction_order, count, error, str(expr)))
    return rows


def library_section() -> Section:
    """:func:`library_rows` as a report table; it passes when every error is below 1e-10."""
    rows = library_rows()
    return Section(
        "Classical layers as product interactions",
        "Each layer written in the expression language, with its self-interaction order; "
        "error is the largest difference between the compiled module and the reference "
        "evaluation (float64).",
        ["layer", "order", "parameters", "error", "expression"],
        [[r.name, r.order, r.parameters, r.max_error, r.expression] for r in rows],
        passed=all(r.max_error <= 1e-10 for r in rows),
    )


@dataclass(frozen=True)
class SymmetryRow:
    """One constrained learned algebra: basis size, equivariance error, free-mode penalty."""

    group: str
    representation: str
    basis_size: int
    equivariance_error: float
    free_penalty: float

    def __post_init__(self) -> None:
        """Raises ``TypeError``/``ValueError`` for a field of the wrong kind."""
        check_fields(self, texts=("group", "representation"), counts=("basis_size",),
                     numbers=("equivariance_error", "free_penalty"))


def _worst_error(alg: LearnedAlgebra, rep: Representation) -> float:
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(2, 8, alg.dim, dtype=torch.float64, generator=gen)
    worst = 0.0
    for m in rep.matrices.to(torch.float64):
        lhs = alg.mul(x @ m.T, y @ m.T)
        rhs = alg.mul(x, y) @ m.T
        worst = max(worst, float((lhs - rhs).abs().max()))
    return worst


def symmetry_rows() -> list[SymmetryRow]:
    """Constrained learned algebras for C4, D4 and S3, and the penalty of a free one."""
    s3 = symmetric(3)
    reps = {
        ("C4", "regular"): regular(cyclic(4)),
        ("D4", "regular"): regular(dihedral(4)),
        ("S3", "permutation of 3 points"): permutation(s3, symmetric_permutations(3)),
    }
    rows = []
    gen = torch.Generator().manual_seed(0)
    for (group, kind), rep in reps.items():
        constrained = LearnedAlgebra(rep.dim, symmetry=rep, mode="constrained",
                                     generator=gen).double()
        free = LearnedAlgebra(rep.dim, symmetry=rep, mode="free", generator=gen).double()
        with torch.no_grad():
            rows.append(SymmetryRow(group, kind, int(constrained.theta.numel()),
                                    _worst_error(constrained, rep),
                                    float(free.symmetry_penalty())))
    return rows


def symmetry_section() -> Section:
    """:func:`symmetry_rows` as a report table; it passes when every constrained algebra is
    equivariant to 1e-10."""
    rows = symmetry_rows()
    return Section(
        "Learned structure constants under a symmetry",
        "Constrained mode parametrizes Γ in the equivariant basis: the error is the worst "
        "|Γ(ρx, ρy) − ρΓ(x, y)| over every group element (float64). A free Γ is far from the "
        "equivariant subspace (its penalty ‖Γ − P_G Γ‖²).",
        ["group", "representation", "equivariant basis size", "equivariance error",
         "free-mode penalty"],
        [[r.group, r.representation, r.basis_size, r.equivariance_error, r.free_penalty]
         for r in rows],
        passed=all(r.equivariance_error <= 1e-10 for r in rows),
    )


def _holds(fact: Fact) -> bool:
    """A fact that an algebra excludes another holds at a large distance, every other one
    (an equality, a containment) at float64 rounding."""
    return fact.residual > 0.5 if "excludes" in fact.name else fact.residual <= 1e-10


def constrain_section() -> Section:
    """The symmetry facts as a report table; it passes when every fact holds."""
    facts = symmetry_facts()
    return Section(
        "Symmetry as an operation on expressions",
        "Each layer is a plain expression constrained by a symmetry (constrain), compiled and "
        "measured in float64 against the classical layer it must be; the residual is relative "
        "to the output scale (a distance for the learned algebras).",
        ["fact", "residual", "parameters", "holds"],
        [[f.name, f.residual, f.parameters, _holds(f)] for f in facts],
        passed=all(_holds(f) for f in facts),
    )


def design_space_rows(max_order: int = 4) -> list[tuple[int, int, int, str]]:
    """``(order, candidates, causal candidates, classical layers)`` of the design space over
    the Hadamard, complex and quaternion algebras (:mod:`prodint.interaction.space`, width 8,
    16 positions), one row per order ``1 … max_order``.

    Raises:
        TypeError: ``max_order`` is not an int.
        ValueError: ``max_order`` outside ``1 … 4`` (orders 1-5 have 3,459 candidates
            over these algebras; build it with :func:`~prodint.interaction.enumerate_space`).
    """
    max_order = check_int(max_order, "max_order", minimum=1, maximum=4)
    spec = parse_space(f"order={max_order},algebras=hadamard+complex+quaternion")
    space = enumerate_space(spec, width=8, length=16)
    rows = []
    for order in range(1, max_order + 1):
        at = [c for c in space if c.order == order]
        classical = sorted({c.classical for c in at if c.classical})
        rows.append((order, len(at), sum(c.causal for c in at), ", ".join(classical)))
    return rows


def design_space_section() -> Section:
    """:func:`design_space_rows` as a report table (descriptive: it makes no check)."""
    return Section(
        "The design space",
        "Candidates of the design space (token mixings, channel products, substitutions and "
        "gates; distinct up to renaming and the algebras' commutativity and associativity) "
        "over the Hadamard, complex and quaternion algebras, by self-interaction order, with "
        "the classical layers found among them.",
        ["order", "candidates", "causal", "classical layers"],
        [list(row) for row in design_space_rows()],
    )
