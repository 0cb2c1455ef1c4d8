"""Paths of equivariant tensor products and their normalisation constants.

A *path* ``(i1, i2, o)`` joins block ``i1 = mul1 x ir1`` of the first input, block ``i2 =
mul2 x ir2`` of the second and block ``o = mul_out x ir_out`` of the output, allowed when the
selection rule holds (:func:`~prodint.symmetry.clebsch_gordan.selection_rule`). Its
coefficients are the Clebsch–Gordan tensor ``C`` (unit Frobenius norm) times a path constant
``α`` (:mod:`prodint.symmetry.tensor_product` gives the products and the two normalisations).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from prodint.checks import check_choice
from prodint.symmetry.clebsch_gordan import selection_rule
from prodint.symmetry.irreps import Irrep, Irreps

__all__ = ["IRREP_NORMALIZATIONS", "Path", "channelwise_paths", "fully_connected_paths"]

IRREP_NORMALIZATIONS = ("component", "norm")


@dataclass(frozen=True)
class Path:
    """One path of a tensor product.

    Attributes:
        i1, i2, i_out: block indices in the first input, second input and output.
        ir1, ir2, ir_out: their irreps.
        mul1, mul2, mul_out: their multiplicities.
        weights: the slice of this path's weights in the flattened weight vector.
        alpha: the path constant ``α`` (module doc).
    """

    i1: int
    i2: int
    i_out: int
    ir1: Irrep
    ir2: Irrep
    ir_out: Irrep
    mul1: int
    mul2: int
    mul_out: int
    weights: slice
    alpha: float


def _check_normalization(normalization: str) -> None:
    check_choice(normalization, "normalization", IRREP_NORMALIZATIONS)


def _alpha(ir1: Irrep, ir2: Irrep, ir_out: Irrep, fan_in: int, normalization: str) -> float:
    num = ir_out.dim if normalization == "component" else ir1.dim * ir2.dim
    return math.sqrt(num / fan_in) if fan_in else 0.0


def fully_connected_paths(irreps1: Irreps, irreps2: Irreps, irreps_out: Irreps,
                          normalization: str = "component") -> list[Path]:
    """Every allowed ``(i1, i2, o)``, in e3nn's order (``i1``, then ``i2``, then ``o``)."""
    _check_normalization(normalization)
    triples = [(i1, i2, o)
               for i1, (_, a) in enumerate(irreps1) for i2, (_, b) in enumerate(irreps2)
               for o, (_, c) in enumerate(irreps_out) if selection_rule(a, b, c)]
    fan = [0] * len(irreps_out)
    for i1, i2, o in triples:
        fan[o] += irreps1[i1][0] * irreps2[i2][0]
    paths, start = [], 0
    for i1, i2, o in triples:
        (m1, a), (m2, b), (m3, c) = irreps1[i1], irreps2[i2], irreps_out[o]
        n = m1 * m2 * m3
        paths.append(Path(i1, i2, o, a, b, c, m1, m2, m3, slice(start, start + n),
                          _alpha(a, b, c, fan[o], normalization)))
        start += n
    return paths


def channelwise_paths(irreps1: Irreps, irreps2: Irreps, targets: Sequence[Irrep | str],
                      normalization: str = "component") -> tuple[list[Path], Irreps]:
    """Paths ``(i1, i2) → ir_out`` for every allowed ``ir_out`` in ``targets``.

    Returns:
        The paths (``i_out`` is the path's own output block; its weights are ``mul1`` values)
        and the output layout ``Σ_p mul1 x ir_out``.
    """
    _check_normalization(normalization)
    allowed = [Irrep(t) for t in targets]
    paths, blocks, start = [], [], 0
    for i1, (m1, a) in enumerate(irreps1):
        for i2, (m2, b) in enumerate(irreps2):
            for c in allowed:
                if not selection_rule(a, b, c):
                    continue
                paths.append(Path(i1, i2, len(blocks), a, b, c, m1, m2, m1,
                                  slice(start, start + m1), _alpha(a, b, c, m2, normalization)))
                blocks.append((m1, c))
                start += m1
    return paths, Irreps(blocks)
