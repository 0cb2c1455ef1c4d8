"""Property checks for tests of layers and algebras.

- :func:`assert_equivariant`: ``fn(g · args) = g · fn(args)`` on every element of a finite
  group, on random elements of a Lie group, or with custom actions (e.g. on image grids).
- :func:`assert_linear`, :func:`assert_bilinear`: linearity in each argument.
- :func:`check_contract`, :func:`assert_contract`: the boundary contract of a public entry
  point under hostile input (:func:`mutations` of each argument): a clear error naming the
  argument or a correct result, no hang, no huge allocation.

Each returns the largest error it measured and raises ``AssertionError`` with a descriptive
message when the property fails; tolerances default per dtype (:func:`default_tolerance`).
"""

from prodint.testing.bilinear import assert_bilinear, assert_linear
from prodint.testing.contract import (
    Entry,
    Violation,
    assert_contract,
    check_contract,
    check_mutation,
    count_cases,
)
from prodint.testing.equivariance import (
    TOLERANCES,
    Action,
    assert_equivariant,
    default_tolerance,
)
from prodint.testing.mutations import Mutation, mutations

__all__ = [
    "TOLERANCES",
    "Action",
    "Entry",
    "Mutation",
    "Violation",
    "assert_bilinear",
    "assert_contract",
    "assert_equivariant",
    "assert_linear",
    "check_contract",
    "check_mutation",
    "count_cases",
    "default_tolerance",
    "mutations",
]
