"""Continuous symmetries: SO(2), SO(3) and O(3) as constraints on product interactions.

The equivariant structure constants of a rotation group are found by the equivariance solver
of :mod:`prodint.groups` (the null space of the Lie-algebra constraint): for SO(3) acting on
irreducible features they are the Clebsch–Gordan coefficients, for SO(2) the bilinear maps
between circular harmonics. The layers built on them are product interactions like any other:
tensor products, equivariant linear maps and harmonic convolution follow the layer contract
(:class:`~prodint.interaction.InteractionLayer`), their symmetry stated in their expressions as
fixed bases and tie tables; the point-cloud layers are modules built of them.

- :mod:`~prodint.symmetry.irreps`: O(3) irreps ``(l, p)`` and layouts ``16x0e + 8x1o``.
- :mod:`~prodint.symmetry.so3`: generators in the real spherical-harmonic basis, Wigner
  matrices, rotation vectors, random rotations.
- :mod:`~prodint.symmetry.clebsch_gordan`: CG coefficients and selection rules.
- :mod:`~prodint.symmetry.spherical_harmonics`: ``Y^l(x)`` with three normalisations.
- :mod:`~prodint.symmetry.tensor_product`: fully connected and channelwise tensor products
  (paths in :mod:`~prodint.symmetry.paths`, fast kernels in
  :mod:`~prodint.symmetry.tensor_product_kernel`, layout blocks as ties in
  :mod:`~prodint.symmetry.blocks`).
- :mod:`~prodint.symmetry.linear`: equivariant linear maps and norm nonlinearities.
- :mod:`~prodint.symmetry.tfn`, :mod:`~prodint.symmetry.se3_attention`,
  :mod:`~prodint.symmetry.graph`: point convolution, SE(3) attention, neighbour graphs.
- :mod:`~prodint.symmetry.so2`, :mod:`~prodint.symmetry.harmonic_conv`: circular harmonics
  and harmonic convolution on images.
"""

from prodint.symmetry.clebsch_gordan import bilinear_basis, clebsch_gordan, selection_rule
from prodint.symmetry.harmonic_conv import HarmonicConv2d, rotate_fields
from prodint.symmetry.irreps import Irrep, Irreps
from prodint.symmetry.linear import Linear, NormActivation
from prodint.symmetry.se3_attention import SE3Attention
from prodint.symmetry.so2 import CircularIrreps, circular_D, circular_harmonics
from prodint.symmetry.so3 import (
    generators,
    random_rotation,
    rotation_matrix,
    rotation_vector,
    wigner_D,
)
from prodint.symmetry.spherical_harmonics import sh_irreps, spherical_harmonics
from prodint.symmetry.tensor_product import ChannelwiseTensorProduct, TensorProduct
from prodint.symmetry.tfn import PointConvolution

__all__ = [
    "ChannelwiseTensorProduct",
    "CircularIrreps",
    "HarmonicConv2d",
    "Irrep",
    "Irreps",
    "Linear",
    "NormActivation",
    "PointConvolution",
    "SE3Attention",
    "TensorProduct",
    "bilinear_basis",
    "circular_D",
    "circular_harmonics",
    "clebsch_gordan",
    "generators",
    "random_rotation",
    "rotate_fields",
    "rotation_matrix",
    "rotation_vector",
    "selection_rule",
    "sh_irreps",
    "spherical_harmonics",
    "wigner_D",
]
