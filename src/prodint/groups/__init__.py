"""Symmetry groups, their representations and equivariant linear maps.

- :mod:`~prodint.groups.finite`: finite groups from Cayley tables (cyclic, dihedral, symmetric,
  direct products).
- :mod:`~prodint.groups.lie`: descriptors of SO(2) and SO(3) via their Lie algebras.
- :mod:`~prodint.groups.representations` and :mod:`~prodint.groups.combinators`: real matrix
  representations and direct sums / tensor products of them.
- :mod:`~prodint.groups.equivariance`: orthonormal bases of equivariant maps, projectors, and
  equivariant algebra structure constants.
"""

from prodint.groups.combinators import direct_sum, dual, tensor_power, tensor_product
from prodint.groups.equivariance import (
    DEFAULT_RTOL,
    cache_info,
    clear_cache,
    constraint_matrix,
    equivariant_basis,
    equivariant_bilinear_basis,
    equivariant_projector,
    project_equivariant,
)
from prodint.groups.finite import (
    Group,
    cyclic,
    dihedral,
    direct_product,
    symmetric,
    symmetric_permutations,
)
from prodint.groups.lie import SO2, SO3, LieGroup, levi_civita, so2, so3
from prodint.groups.representations import (
    Representation,
    lie_trivial,
    permutation,
    regular,
    sign,
    so2_vector,
    so3_vector,
    trivial,
)

__all__ = [
    "DEFAULT_RTOL",
    "SO2",
    "SO3",
    "Group",
    "LieGroup",
    "Representation",
    "cache_info",
    "clear_cache",
    "constraint_matrix",
    "cyclic",
    "dihedral",
    "direct_product",
    "direct_sum",
    "dual",
    "equivariant_basis",
    "equivariant_bilinear_basis",
    "equivariant_projector",
    "levi_civita",
    "lie_trivial",
    "permutation",
    "project_equivariant",
    "regular",
    "sign",
    "so2",
    "so2_vector",
    "so3",
    "so3_vector",
    "symmetric",
    "symmetric_permutations",
    "tensor_power",
    "tensor_product",
    "trivial",
]
