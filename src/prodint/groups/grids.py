"""Groups acting on the points of a grid: translations of a torus, rotations and mirrors.

Points of an ``n_1 × … × n_k`` grid are numbered row-major, ``p = ravel(p_1, …, p_k)``, the
layout of a tensor ``X[y, x]`` flattened (or of the pair of axes ``(y, x)`` as one leg of a
symmetry, :mod:`prodint.groups.legs`).

- :func:`grid_translations`: ``Z_{n_1} × … × Z_{n_k}`` (:func:`~prodint.groups.cyclic` and
  :func:`~prodint.groups.direct_product`, elements numbered like the points) acting by cyclic
  shifts, ``a · p = p + a mod n``: the symmetry of circular convolution.
- :func:`grid_rotations`: the point groups ``C1, C2, C4, D1, D2, D4`` acting on a square
  ``s × s`` grid about its centre, with the conventions of
  ``prodint.zoo.group_conv.transform_grid``: ``r`` of ``C_n`` / ``D_n`` turns by ``4/n``
  quarter turns like ``torch.rot90(image, 1, dims=(-2, -1))``, ``s`` mirrors like
  ``torch.flip(image, dims=(-1,))``, and ``r^k s^f`` mirrors first, then turns. As an action
  on points, an image transformed by ``g`` is ``(T_g f)[g · p] = f[p]``.

Together (``constrain`` takes a sequence of symmetries, whose generators all apply), the
translations and a point group generate the wallpaper groups ``p4`` / ``p4m`` of the torus.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from prodint.checks import check_int
from prodint.groups.checks import check_budget, check_kind, check_sizes
from prodint.groups.finite import Group, cyclic, dihedral, direct_product, table_bytes
from prodint.groups.permutations import PermutationRepresentation

__all__ = ["grid_rotations", "grid_translations"]

_POINT_GROUPS = {"C1": ("C", 1), "C2": ("C", 2), "C4": ("C", 4),
                 "D1": ("D", 1), "D2": ("D", 2), "D4": ("D", 4)}


def grid_translations(shape: int | Sequence[int]) -> PermutationRepresentation:
    """The cyclic shifts of an ``n_1 × … × n_k`` torus, ``a · p = p + a mod (n_1, …, n_k)``.

    The group is ``Z_{n_1} × … × Z_{n_k}`` with element ``a`` numbered like the point ``a``;
    the action is then the group's regular action, so its table is the Cayley table.

    Returns:
        A :class:`~prodint.groups.PermutationRepresentation` of dimension ``Π n_i``.

    Raises:
        TypeError: ``shape`` is neither an int nor a sequence of ints.
        ValueError: no size, a size below 1, or a Cayley table of ``Π n_i`` elements above
            the memory budget.
    """
    if isinstance(shape, Sequence) and not isinstance(shape, str | bytes):
        sizes = check_sizes(shape, "shape")
    else:
        sizes = (check_int(shape, "shape", minimum=1),)
    points = math.prod(sizes)
    check_budget(table_bytes(points) + table_bytes(points // sizes[-1]), "shape",
                 f"the Cayley table of the translations of {points:,} points")
    group: Group = cyclic(sizes[0])
    for n in sizes[1:]:
        group = direct_product(group, cyclic(n))
    name = f"translations({'x'.join(map(str, sizes))})"
    return PermutationRepresentation._trusted(group, group._table.clone(), name)


def _point_group(group: Group) -> tuple[str, int]:
    check_kind(group, "group", Group, "a Group")
    if group.name in _POINT_GROUPS:
        family, n = _POINT_GROUPS[group.name]
        if group == (cyclic(n) if family == "C" else dihedral(n)):
            return family, n
    raise ValueError(f"group: expected one of {sorted(_POINT_GROUPS)} as built by "
                     f"prodint.groups.cyclic/dihedral, received {group!r}")


def grid_rotations(group: Group, size: int) -> PermutationRepresentation:
    """A point group acting on the ``size × size`` grid by quarter turns and mirrors.

    Args:
        group: ``cyclic(n)`` or ``dihedral(n)`` with ``n`` in 1, 2, 4.
        size: the side ``s`` of the grid.

    Returns:
        The :class:`~prodint.groups.PermutationRepresentation` on the ``s²`` points with
        ``r · (a, b) = R^{4/n}(a, b)``, ``R(a, b) = (s-1-b, a)`` (``torch.rot90``) and
        ``s · (a, b) = (a, s-1-b)`` (``torch.flip`` of the last axis).

    Raises:
        TypeError: ``group`` is not a Group, ``size`` is not an int.
        ValueError: ``group`` is not one of the point groups, ``size < 1``, or a table above
            the memory budget.
    """
    family, n = _point_group(group)
    size = check_int(size, "size", minimum=1)
    # The action table, its four powers of the turn, and the checks of from_permutations.
    check_budget(8 * size * size * (4 * group.order + 8), "size",
                 f"action of {group.name} on {size}x{size} points")
    points = torch.arange(size * size)
    a, b = points // size, points % size
    turn = (size - 1 - b) * size + a  # R as a map of points
    mirror = a * size + (size - 1 - b)
    powers = [points]
    for _ in range(3):
        powers.append(turn[powers[-1]])
    step = 4 // n
    rows = []
    for element in range(group.order):
        k, f = (element, 0) if family == "C" else (element % n, element // n)
        moved = mirror if f else points
        rows.append(powers[(k * step) % 4][moved])  # mirror first, then turn
    perm = torch.stack(rows)
    name = f"{group.name} on {size}x{size}"
    return PermutationRepresentation.from_permutations(group, perm, name)
