"""Algebras given by structure constants, their catalogue and multiplication kernels.

An :class:`Algebra` is ``R^n`` with the product ``(x·y)_c = Σ_ab Γ[a,b,c] x_a y_b`` given
by its structure constants ``Γ [n, n, n]``; ``mul`` multiplies batches ``[..., n]``:

>>> import torch
>>> from prodint.algebra import quaternions
>>> H = quaternions()
>>> H.structure_constants.shape
torch.Size([4, 4, 4])
>>> i, j = torch.eye(4)[1], torch.eye(4)[2]
>>> H.mul(i, j)  # i·j = k
tensor([0., 0., 0., 1.])
>>> H.is_associative(), H.is_commutative()
(True, False)
"""

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
