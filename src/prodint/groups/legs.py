"""How a group acts on the axes of a tensor: a symmetry gives each leg a representation.

Let ``T[i_1, …, i_n]`` be a tensor with axis sizes ``(d_1, …, d_n)`` (a layer's weight,
structure constants). A *leg* is a tuple of axis positions, flattened row-major in the order
given (one axis, or several: the ``(y, x)`` of a grid). A *symmetry* maps legs to
representations of one group ``G`` (a :class:`~prodint.groups.Representation` or a
:class:`~prodint.groups.PermutationRepresentation`) whose dimension is the leg's number of
entries; axes in no leg are left alone (``G`` acts trivially on them). ``G`` acts on ``T`` by
``⊗_legs ρ_leg(g)`` and the solvers find the invariant tensors,

    (⊗_legs ρ_leg(g)) T = T      for every g ∈ G      (finite groups)
    Σ_legs X_leg,i T = 0          for every Lie-algebra generator i    (Lie groups)

For a linear map the legs it contracts with its input carry the dual representation
``ρ*(g) = ρ(g⁻¹)ᵀ`` (:func:`~prodint.groups.dual`), so that invariance is equivariance,
``ρ_out(g) W = W ρ_in(g)``; permutation and orthogonal representations are their own duals.

Several symmetries, of different groups, may be imposed at once: ``T`` is then invariant under
the group that all their generators generate (the translations and the rotations of a grid
generate the wallpaper group ``p4``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from prodint.groups.checks import check_argument_name, check_names, check_sizes
from prodint.groups.finite import Group
from prodint.groups.lie import LieGroup
from prodint.groups.permutations import PermutationRepresentation
from prodint.groups.representations import Representation

__all__ = ["BoundSymmetry", "Leg", "Symmetry", "bind_symmetries", "symmetry_items"]

Leg = tuple[int, ...]
#: One group acting on legs: ``{leg: representation}``, a leg an axis position or a tuple.
Symmetry = Mapping[int | tuple[int, ...], Representation | PermutationRepresentation]


class BoundSymmetry:
    """One symmetry checked against a tensor's sizes: its group and ``(leg, rep)`` pairs."""

    __slots__ = ("group", "legs")

    def __init__(self, group: Group | LieGroup,
                 legs: tuple[tuple[Leg, Representation | PermutationRepresentation], ...]):
        self.group = group
        self.legs = legs

    def axes(self) -> set[int]:
        """The axis positions this symmetry acts on."""
        return {axis for leg, _ in self.legs for axis in leg}


def _describe(leg: Leg, names: Sequence[str] | None) -> str:
    parts = [repr(names[a]) if names is not None else str(a) for a in leg]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"


def symmetry_items(symmetries: object, argument: str = "symmetry") -> list[Mapping]:
    """``symmetries`` (one mapping or a sequence of them) as a non-empty list of non-empty
    mappings.

    Raises:
        TypeError: neither a mapping nor a sequence of mappings.
        ValueError: no symmetry, or a symmetry without legs.
    """
    items = [symmetries] if isinstance(symmetries, Mapping) else symmetries
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise TypeError(f"{argument}: expected a mapping {{leg: representation}} or a sequence "
                        f"of them, received {type(symmetries).__name__}")
    if not items:
        raise ValueError(f"{argument}: expected at least one symmetry, received none")
    for s, sym in enumerate(items):
        where = argument if len(items) == 1 else f"{argument}[{s}]"
        if not isinstance(sym, Mapping):
            raise TypeError(f"{where}: expected a mapping {{leg: representation}}, received "
                            f"{type(sym).__name__}")
        if not sym:
            raise ValueError(f"{where}: expected at least one leg, received an empty mapping")
    return list(items)


def bind_symmetries(sizes: Sequence[int], symmetries: Symmetry | Sequence[Symmetry], *,
                    names: Sequence[str] | None = None,
                    argument: str = "symmetry") -> tuple[BoundSymmetry, ...]:
    """Check symmetries against a tensor's axis sizes.

    Args:
        sizes: the tensor's axis sizes.
        symmetries: one symmetry ``{leg: rep}`` or a sequence of them.
        names: axis names for the messages (default: positions).
        argument: the argument name for the messages.

    Raises:
        TypeError: not a mapping, a leg that is not an int / tuple of ints, a value that is not
            a representation, ``names`` not a sequence of strs, ``argument`` not a str.
        ValueError: no axis, a leg out of range or repeated, a representation whose dimension
            is not the leg's number of entries, representations of different groups in one
            symmetry, no symmetry at all, not one name per axis.
    """
    sizes = check_sizes(sizes)
    argument = check_argument_name(argument)
    names = check_names(names, len(sizes))
    items = symmetry_items(symmetries, argument)
    bound = []
    for s, sym in enumerate(items):
        where = argument if len(items) == 1 else f"{argument}[{s}]"
        legs = []
        seen: set[int] = set()
        group: Group | LieGroup | None = None
        for key, rep in sym.items():
            leg = (key,) if isinstance(key, int) and not isinstance(key, bool) else key
            if not isinstance(leg, tuple) or not leg or not all(
                    isinstance(a, int) and not isinstance(a, bool) for a in leg):
                raise TypeError(f"{where}: expected legs given as axis positions (an int or a "
                                f"tuple of ints), received {key!r}")
            for a in leg:
                if not 0 <= a < len(sizes):
                    raise ValueError(f"{where}: expected axis positions in 0..{len(sizes) - 1}"
                                     f", received {a} in leg {key!r}")
                if a in seen:
                    raise ValueError(f"{where}: axis {_describe((a,), names)} is in two legs; "
                                     "expected each axis in at most one leg of a symmetry")
                seen.add(a)
            if not isinstance(rep, Representation | PermutationRepresentation):
                raise TypeError(f"{where}: expected a Representation or a "
                                f"PermutationRepresentation for leg {_describe(leg, names)}, "
                                f"received {type(rep).__name__}")
            entries = math.prod(sizes[a] for a in leg)
            if rep.dim != entries:
                shape = "×".join(str(sizes[a]) for a in leg)
                raise ValueError(f"{where}: leg {_describe(leg, names)} has {entries} entries "
                                 f"(sizes {shape}); expected a representation of that "
                                 f"dimension, received {rep.name} of dimension {rep.dim}")
            if group is None:
                group = rep.group
            elif rep.group != group:
                raise ValueError(f"{where}: expected representations of one group, received "
                                 f"{group.name} and {rep.group.name} (impose several groups as "
                                 "a sequence of symmetries)")
            legs.append((leg, rep))
        assert group is not None
        bound.append(BoundSymmetry(group, tuple(legs)))
    return tuple(bound)
