"""Boundary entries of prodint.groups: every public callable under hostile arguments."""

from __future__ import annotations

import math
from typing import Any

import torch

from prodint.groups import (
    Group,
    LieGroup,
    PermutationRepresentation,
    Representation,
    as_permutation,
    bind_symmetries,
    cache_info,
    choose_solver,
    clear_cache,
    constraint_matrix,
    cyclic,
    dihedral,
    direct_product,
    direct_sum,
    dual,
    equivariant_basis,
    equivariant_bilinear_basis,
    equivariant_projector,
    grid_rotations,
    grid_translations,
    invariant_basis,
    levi_civita,
    lie_trivial,
    orbit_basis,
    orbit_partition,
    permutation,
    project_equivariant,
    regular,
    regular_permutation,
    sign,
    so2,
    so2_vector,
    so3,
    so3_vector,
    symmetric,
    symmetric_permutations,
    tensor_power,
    tensor_product,
    tie_index,
    trivial,
    trivial_permutation,
)
from prodint.testing.contract import Entry

# The symmetry solvers name one symmetry of the sequence "symmetry" (or "symmetry[i]") in
# their messages: that is the word the layers built on them use for the argument.
SYMMETRY = {"symmetries": ("symmetry",)}


def _rotations(n: int) -> torch.Tensor:
    """The 2-dim rotation representation of C_n, ``[n, 2, 2]`` float64."""
    angle = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _group(a: dict[str, Any]) -> Any:
    g = Group.from_cayley_table(a["table"], names=a["names"], name=a["name"])
    return (g.table, g.inverse, g.element_orders(), g.generated_subgroup(a["gens"]),
            g.generators(), g.is_abelian(), g.cyclic_shape)


def _from_matrices(a: dict[str, Any]) -> Any:
    rep = Representation.from_matrices(a["group"], a["matrices"], name=a["name"])
    return rep.matrices, rep.generators, rep(a["g"])


def _from_lie_algebra(a: dict[str, Any]) -> Any:
    rep = Representation.from_lie_algebra(a["group"], a["generators"], name=a["name"])
    return rep.generators, rep.matrix_exp(a["t"])


def _from_permutations(a: dict[str, Any]) -> Any:
    rep = PermutationRepresentation.from_permutations(a["group"], a["perm"], name=a["name"])
    return rep.permutations, rep.generator_permutations, rep.representation().matrices


def _direct_sum(a: dict[str, Any]) -> Any:
    reps = a["reps"]
    rep = direct_sum(*reps) if isinstance(reps, list | tuple) else direct_sum(reps)
    return rep.matrices


def _c3() -> Representation:
    return Representation.from_matrices(cyclic(3), _rotations(3))


def _orbits() -> dict[str, Any]:
    c4 = regular_permutation(cyclic(4))
    support = torch.ones(4, 4, dtype=torch.bool)
    support[0, 3] = False
    return dict(sizes=[4, 4], symmetries={0: c4, 1: c4}, support=support, names=["o", "i"],
                max_bytes=1 << 20)


def _invariant() -> dict[str, Any]:
    rot = _c3()
    return dict(sizes=[2, 2], symmetries=[{0: rot, 1: rot}], support=torch.eye(2) > 0,
                names=["o", "i"], rtol=1e-10, max_bytes=1 << 20)


def _labels() -> torch.Tensor:
    c3 = regular_permutation(cyclic(3))
    return orbit_partition((3, 3), {0: c3, 1: c3})


def _x(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


ENTRIES = [
    Entry(("prodint.groups.Group",), _group,
          lambda: dict(table=cyclic(4).table, names=["e", "a", "b", "c"], name="Z4", gens=[2]),
          free_text=frozenset({"name"})),
    Entry(("prodint.groups.cyclic",), lambda a: cyclic(**a).table, lambda: dict(n=5)),
    Entry(("prodint.groups.dihedral",), lambda a: dihedral(**a).table, lambda: dict(n=3)),
    Entry(("prodint.groups.symmetric",), lambda a: symmetric(**a).table, lambda: dict(n=3)),
    Entry(("prodint.groups.symmetric_permutations",), lambda a: symmetric_permutations(**a),
          lambda: dict(n=3)),
    Entry(("prodint.groups.direct_product",), lambda a: direct_product(**a).table,
          lambda: dict(g=cyclic(2), h=dihedral(2))),
    Entry(("prodint.groups.LieGroup",),
          lambda a: LieGroup(a["name"], a["structure_constants"]).structure_constants,
          lambda: dict(name="so(3)", structure_constants=levi_civita()),
          free_text=frozenset({"name"})),
    Entry(("prodint.groups.so2",), lambda a: so2().structure_constants, dict),
    Entry(("prodint.groups.so3",), lambda a: so3().structure_constants, dict),
    Entry(("prodint.groups.levi_civita",), lambda a: levi_civita(), dict),
    Entry(("prodint.groups.Representation",), _from_matrices,
          lambda: dict(group=cyclic(3), matrices=_rotations(3), name="rot", g=2),
          free_text=frozenset({"name"})),
    Entry(("prodint.groups.Representation",), _from_lie_algebra,
          lambda: dict(group=so3(), generators=so3_vector().generators, name="vec",
                       t=_x(2, 3)),
          free_text=frozenset({"name"})),
    # A scalar angle for SO(2): the form in which a huge or infinite angle reaches the call.
    Entry(("prodint.groups.Representation",), _from_lie_algebra,
          lambda: dict(group=so2(), generators=so2_vector().generators, name="vec", t=0.5),
          free_text=frozenset({"name"})),
    Entry(("prodint.groups.so2_vector",), lambda a: so2_vector().matrix_exp(1.0), dict),
    Entry(("prodint.groups.so3_vector",), lambda a: so3_vector().generators, dict),
    Entry(("prodint.groups.trivial",), lambda a: trivial(**a).matrices,
          lambda: dict(group=cyclic(3), dim=2)),
    Entry(("prodint.groups.lie_trivial",), lambda a: lie_trivial(**a).generators,
          lambda: dict(group=so3(), dim=2)),
    Entry(("prodint.groups.permutation",), lambda a: permutation(**a).matrices,
          lambda: dict(group=cyclic(3), perm=torch.tensor([[0, 1, 2], [1, 2, 0], [2, 0, 1]]),
                       name="perm"),
          free_text=frozenset({"name"})),
    Entry(("prodint.groups.regular",), lambda a: regular(**a).matrices,
          lambda: dict(group=dihedral(3))),
    Entry(("prodint.groups.sign",), lambda a: sign(**a).matrices,
          lambda: dict(group=symmetric(3))),
    Entry(("prodint.groups.PermutationRepresentation",), _from_permutations,
          lambda: dict(group=cyclic(2), perm=torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]]),
                       name="pairs"),
          free_text=frozenset({"name"})),
    Entry(("prodint.groups.regular_permutation",),
          lambda a: regular_permutation(**a).permutations, lambda: dict(group=dihedral(2))),
    Entry(("prodint.groups.trivial_permutation",),
          lambda a: trivial_permutation(**a).permutations,
          lambda: dict(group=cyclic(3), dim=2)),
    Entry(("prodint.groups.as_permutation",), lambda a: as_permutation(**a).permutations,
          lambda: dict(rep=regular(cyclic(3)), argument="rep"),
          free_text=frozenset({"argument"})),
    Entry(("prodint.groups.direct_sum",), _direct_sum, lambda: dict(reps=[_c3(), trivial(
        cyclic(3))])),
    Entry(("prodint.groups.tensor_product",), lambda a: tensor_product(**a).matrices,
          lambda: dict(rep1=_c3(), rep2=regular(cyclic(3)))),
    Entry(("prodint.groups.tensor_power",), lambda a: tensor_power(**a).matrices,
          lambda: dict(rep=_c3(), k=2)),
    # A one-dimensional representation: its powers stay one-dimensional for any k.
    Entry(("prodint.groups.tensor_power",), lambda a: tensor_power(**a).matrices,
          lambda: dict(rep=sign(symmetric(3)), k=3)),
    Entry(("prodint.groups.tensor_power",), lambda a: tensor_power(**a).generators,
          lambda: dict(rep=so2_vector(), k=2)),
    Entry(("prodint.groups.dual",), lambda a: dual(**a).matrices, lambda: dict(rep=_c3())),
    Entry(("prodint.groups.constraint_matrix",), lambda a: constraint_matrix(**a),
          lambda: dict(rep_in=_c3(), rep_out=regular(cyclic(3)))),
    Entry(("prodint.groups.equivariant_basis",), lambda a: equivariant_basis(**a),
          lambda: dict(rep_in=_c3(), rep_out=_c3(), rtol=1e-10, solver="svd")),
    Entry(("prodint.groups.equivariant_basis",), lambda a: equivariant_basis(**a),
          lambda: dict(rep_in=regular(cyclic(3)), rep_out=regular_permutation(cyclic(3)),
                       rtol=1e-10, solver="orbits")),
    Entry(("prodint.groups.equivariant_bilinear_basis",),
          lambda a: equivariant_bilinear_basis(**a),
          lambda: dict(rep=so3_vector(), rtol=1e-10, solver="auto")),
    Entry(("prodint.groups.equivariant_projector",), lambda a: equivariant_projector(**a),
          lambda: dict(rep_in=_c3(), rep_out=trivial(cyclic(3), 2), rtol=1e-10, solver="svd")),
    Entry(("prodint.groups.project_equivariant",), lambda a: project_equivariant(**a),
          lambda: dict(W=_x(2, 2), rep_in=_c3(), rep_out=_c3(), rtol=1e-10)),
    Entry(("prodint.groups.invariant_basis",), lambda a: invariant_basis(**a), _invariant,
          aliases=SYMMETRY),
    Entry(("prodint.groups.orbit_partition",), lambda a: orbit_partition(**a), _orbits,
          aliases=SYMMETRY),
    Entry(("prodint.groups.orbit_basis",), lambda a: orbit_basis(**a),
          lambda: dict(labels=_labels(), max_bytes=1 << 20)),
    Entry(("prodint.groups.tie_index",), lambda a: tie_index(**a),
          lambda: dict(labels=_labels(), sizes=[3, 2, 3], axes=[0, 2])),
    Entry(("prodint.groups.bind_symmetries",),
          lambda a: [(s.group, s.legs) for s in bind_symmetries(**a)],
          lambda: dict(sizes=[3, 3], symmetries=[{(0, 1): regular(cyclic(9))}],
                       names=["y", "x"], argument="symmetries"),
          free_text=frozenset({"argument"})),
    Entry(("prodint.groups.choose_solver",), lambda a: choose_solver(**a),
          lambda: dict(symmetries=[{0: _c3(), 1: regular(cyclic(3))}], solver="auto")),
    Entry(("prodint.groups.grid_translations",), lambda a: grid_translations(**a).permutations,
          lambda: dict(shape=[3, 2])),
    Entry(("prodint.groups.grid_translations",), lambda a: grid_translations(**a).permutations,
          lambda: dict(shape=4)),
    Entry(("prodint.groups.grid_rotations",), lambda a: grid_rotations(**a).permutations,
          lambda: dict(group=dihedral(4), size=3)),
    Entry(("prodint.groups.cache_info", "prodint.groups.clear_cache"),
          lambda a: (clear_cache(), cache_info()), dict),
]

EXEMPT = {
    "prodint.groups.DEFAULT_MAX_BYTES": "a constant",
    "prodint.groups.DEFAULT_RTOL": "a constant",
    "prodint.groups.SO2": "a constant (the LieGroup so2() returns)",
    "prodint.groups.SO3": "a constant (the LieGroup so3() returns)",
    "prodint.groups.SOLVERS": "a constant",
    "prodint.groups.Symmetry": "a type alias",
}
