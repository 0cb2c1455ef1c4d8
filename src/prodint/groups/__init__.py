"""Symmetry groups, their representations and equivariant linear maps.

- :mod:`~prodint.groups.finite`: finite groups from Cayley tables (cyclic, dihedral, symmetric,
  direct products), checked by :mod:`~prodint.groups.cayley`.
- :mod:`~prodint.groups.lie`: descriptors of SO(2) and SO(3) via their Lie algebras.
- :mod:`~prodint.groups.representations`, :mod:`~prodint.groups.standard` and
  :mod:`~prodint.groups.combinators`: real matrix representations, the standard ones, and
  direct sums / tensor products of them.
- :mod:`~prodint.groups.permutations`: permutation representations stored as action tables
  (``g · i``), and the recognition of dense ones; :mod:`~prodint.groups.grids`: translations,
  rotations and mirrors of a grid.
- :mod:`~prodint.groups.legs`: a symmetry of a tensor, one representation per leg (an axis or
  a tuple of axes).
- :mod:`~prodint.groups.equivariance`: orthonormal bases of equivariant maps, projectors, and
  equivariant algebra structure constants; :mod:`~prodint.groups.invariants`: invariant
  tensors of several legs by SVD (both through :mod:`~prodint.groups.svd`: the cutoff, the
  null space and the cache); :mod:`~prodint.groups.orbits`: the same spaces for permutation
  representations, as orbits.
- :mod:`~prodint.groups.checks`: the argument checks the modules share (names, tolerances,
  memory budgets, axis sizes, defining matrices), built on :mod:`prodint.checks`.

>>> from prodint.groups import cyclic, dihedral, equivariant_basis, regular
>>> dihedral(4).order, dihedral(4).is_abelian()
(8, False)
>>> equivariant_basis(regular(cyclic(4)), regular(cyclic(4))).shape  # [maps, out, in]
torch.Size([4, 4, 4])
"""

from prodint.groups.combinators import direct_sum, dual, tensor_power, tensor_product
from prodint.groups.equivariance import (
    SOLVERS,
    choose_solver,
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
from prodint.groups.grids import grid_rotations, grid_translations
from prodint.groups.invariants import invariant_basis
from prodint.groups.legs import Symmetry, bind_symmetries
from prodint.groups.lie import SO2, SO3, LieGroup, levi_civita, so2, so3
from prodint.groups.orbits import DEFAULT_MAX_BYTES, orbit_basis, orbit_partition, tie_index
from prodint.groups.permutations import (
    PermutationRepresentation,
    as_permutation,
    regular_permutation,
    trivial_permutation,
)
from prodint.groups.representations import Representation
from prodint.groups.standard import (
    lie_trivial,
    permutation,
    regular,
    sign,
    so2_vector,
    so3_vector,
    trivial,
)
from prodint.groups.svd import DEFAULT_RTOL, cache_info, clear_cache

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_RTOL",
    "SO2",
    "SO3",
    "SOLVERS",
    "Group",
    "LieGroup",
    "PermutationRepresentation",
    "Representation",
    "Symmetry",
    "as_permutation",
    "bind_symmetries",
    "cache_info",
    "choose_solver",
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
    "grid_rotations",
    "grid_translations",
    "invariant_basis",
    "levi_civita",
    "lie_trivial",
    "orbit_basis",
    "orbit_partition",
    "permutation",
    "project_equivariant",
    "regular",
    "regular_permutation",
    "sign",
    "so2",
    "so2_vector",
    "so3",
    "so3_vector",
    "symmetric",
    "symmetric_permutations",
    "tensor_power",
    "tensor_product",
    "tie_index",
    "trivial",
    "trivial_permutation",
]
