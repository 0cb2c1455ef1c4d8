"""Algebras given by structure constants, their catalogue and multiplication kernels."""

from prodint.algebra.catalogue import (
    clifford,
    complex_numbers,
    dual_numbers,
    from_structure_constants,
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
from prodint.algebra.hints import KernelHints
from prodint.algebra.kernels import KERNELS, choose_kernel, kernel_costs
from prodint.algebra.learned import LearnedAlgebra

__all__ = [
    "KERNELS",
    "Algebra",
    "KernelHints",
    "LearnedAlgebra",
    "choose_kernel",
    "clifford",
    "complex_numbers",
    "dual_numbers",
    "from_structure_constants",
    "group_algebra",
    "hadamard",
    "kernel_costs",
    "matrix_algebra",
    "octonions",
    "quaternions",
    "real",
    "tensor_product",
    "truncated_polynomial",
]
