"""Descriptors of the compact Lie groups SO(2) and SO(3).

A representation of a connected Lie group is determined by the matrices ``X_i`` representing a
basis of its Lie algebra; they must satisfy the algebra's brackets
``[X_i, X_j] = sum_k c_ijk X_k`` with structure constants ``c``. A :class:`LieGroup` only carries
that data (name, algebra dimension, structure constants), nothing about any particular
representation.
"""

from __future__ import annotations

import torch

from prodint.groups.checks import real_matrices
from prodint.groups.frozen import FrozenSlots

__all__ = ["SO2", "SO3", "LieGroup", "levi_civita", "so2", "so3"]


def levi_civita() -> torch.Tensor:
    """``[3, 3, 3]`` float64 Levi-Civita symbol ``epsilon_ijk`` with ``epsilon_012 = 1``."""
    eps = torch.zeros(3, 3, 3, dtype=torch.float64)
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        eps[i, j, k] = 1.0
        eps[i, k, j] = -1.0
    return eps


class LieGroup(FrozenSlots):
    """An immutable descriptor of a matrix Lie group via its Lie algebra.

    Attributes:
        name: e.g. ``"SO(2)"``.
        dim: dimension ``k`` of the Lie algebra (number of generators).
        structure_constants: ``[k, k, k]`` float64 tensor ``c`` with
            ``[X_i, X_j] = sum_l c[i, j, l] X_l``.
    """

    __slots__ = ("_c", "_dim", "_name")

    _name: str
    _dim: int
    _c: torch.Tensor

    def __init__(self, name: str, structure_constants: torch.Tensor) -> None:
        """Describe a Lie group by its name and the structure constants of its algebra.

        Raises:
            TypeError: ``name`` is not a str, ``structure_constants`` is not real.
            ValueError: ``structure_constants`` is not ``[k, k, k]``, not finite, or not
                antisymmetric in its first two indices.
        """
        if not isinstance(name, str):
            raise TypeError(f"name: expected a str, received {type(name).__name__} {name!r}")
        c = real_matrices(structure_constants, "structure_constants")
        if c.dim() != 3 or not (c.shape[0] == c.shape[1] == c.shape[2]):
            raise ValueError(f"structure_constants: expected shape [k, k, k], got {tuple(c.shape)}")
        if not torch.allclose(c, -c.transpose(0, 1)):
            raise ValueError("structure_constants: expected antisymmetry c[i,j,l] = -c[j,i,l]")
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_dim", int(c.shape[0]))
        object.__setattr__(self, "_c", c.clone())

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"LieGroup is immutable; cannot set {key!r}")

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def structure_constants(self) -> torch.Tensor:
        return self._c.clone()

    def is_abelian(self) -> bool:
        return bool((self._c == 0).all())

    def __repr__(self) -> str:
        return f"LieGroup({self._name!r}, dim={self._dim})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LieGroup):
            return NotImplemented
        return self._name == other._name and torch.equal(self._c, other._c)

    def __hash__(self) -> int:
        return hash((self._name, self._dim))


#: SO(2): a one-dimensional, hence abelian, Lie algebra.
SO2 = LieGroup("SO(2)", torch.zeros(1, 1, 1, dtype=torch.float64))
#: SO(3): structure constants ``c_ijk = ε_ijk`` (``[L_x, L_y] = L_z`` and cyclic).
SO3 = LieGroup("SO(3)", levi_civita())


def so2() -> LieGroup:
    """The descriptor of SO(2)."""
    return SO2


def so3() -> LieGroup:
    """The descriptor of SO(3)."""
    return SO3
