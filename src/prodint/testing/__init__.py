"""Property checks for tests of layers and algebras.

- :func:`assert_equivariant`: ``fn(g · args) = g · fn(args)`` on every element of a finite
  group, on random elements of a Lie group, or with custom actions (e.g. on image grids).
- :func:`assert_linear`, :func:`assert_bilinear`: linearity in each argument.

Each returns the largest error it measured and raises ``AssertionError`` with a descriptive
message when the property fails; tolerances default per dtype (:func:`default_tolerance`).
"""

from prodint.testing.bilinear import assert_bilinear, assert_linear
from prodint.testing.equivariance import (
    TOLERANCES,
    Action,
    assert_equivariant,
    default_tolerance,
)

__all__ = [
    "TOLERANCES",
    "Action",
    "assert_bilinear",
    "assert_equivariant",
    "assert_linear",
    "default_tolerance",
]
