"""Kernel hints: validated fields, and every hint checked against the structure constants."""

import pytest
import torch

from prodint.algebra import (
    Algebra,
    KernelHints,
    group_algebra,
    hadamard,
    matrix_algebra,
    quaternions,
    real,
)
from prodint.groups import cyclic, direct_product


def _rebuilt(alg: Algebra, hints: KernelHints) -> Algebra:
    return Algebra(alg.triples, alg.values, alg.dim, hints=hints)


def test_a_false_hadamard_hint_is_refused() -> None:
    # Trusted, it would select the elementwise kernel: wrong by 4.0 on the quaternions.
    with pytest.raises(ValueError, match=r"hints: .*hadamard=True, but the algebra has 16 "):
        _rebuilt(quaternions(), KernelHints(hadamard=True))
    with pytest.raises(ValueError, match=r"hints: .*hadamard=True, but Γ\[0, 0, 1\] = 1"):
        Algebra(torch.tensor([[0, 0, 1], [1, 1, 1]]), torch.ones(2), 2,
                hints=KernelHints(hadamard=True))


def test_false_matrix_and_cyclic_hints_are_refused() -> None:
    with pytest.raises(ValueError, match=r"hints: .*matrix_size=2, but"):
        _rebuilt(quaternions(), KernelHints(matrix_size=2))
    with pytest.raises(ValueError, match=r"hints: .*cyclic_shape=\(4,\), but Γ"):
        _rebuilt(quaternions(), KernelHints(cyclic_shape=(4,)))
    # Z_6 ≅ Z_2 × Z_3, but not with the row-major indexing (2, 3) describes.
    with pytest.raises(ValueError, match=r"cyclic_shape=\(2, 3\), but Γ"):
        _rebuilt(group_algebra(cyclic(6)), KernelHints(cyclic_shape=(2, 3)))
    with pytest.raises(ValueError, match=r"matrix_size=2, but .*Γ\[\d+, \d+, \d+\] = 2"):
        m = matrix_algebra(2)
        Algebra(m.triples, 2 * m.values, 4, hints=KernelHints(matrix_size=2))


def test_true_hints_are_accepted() -> None:
    for alg in (real(), hadamard(5), matrix_algebra(3), group_algebra(cyclic(5)),
                group_algebra(direct_product(cyclic(2), cyclic(3)))):
        assert _rebuilt(alg, alg.hints).hints == alg.hints


def test_hint_fields_are_validated() -> None:
    with pytest.raises(TypeError, match=r"matrix_size: expected an int, received 2.0"):
        KernelHints(matrix_size=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="hadamard: expected a bool, received 1"):
        KernelHints(hadamard=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cyclic_shape: expected a positive int, received 0"):
        KernelHints(cyclic_shape=(3, 0))
    with pytest.raises(TypeError, match="cyclic_shape: expected a tuple"):
        KernelHints(cyclic_shape="34")  # type: ignore[arg-type]
    assert KernelHints(cyclic_shape=[2, 3]).cyclic_shape == (2, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="hints: expected a KernelHints or None"):
        Algebra(torch.tensor([[0, 0, 0]]), torch.ones(1), 1, hints="hadamard")  # type: ignore[arg-type]
