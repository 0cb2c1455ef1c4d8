"""Permutation representations as action tables: validation, recognition, dense matrices."""

import pytest
import torch

from prodint.groups import (
    PermutationRepresentation,
    as_permutation,
    cyclic,
    dihedral,
    grid_translations,
    permutation,
    regular,
    regular_permutation,
    sign,
    so3_vector,
    symmetric,
    symmetric_permutations,
    tensor_product,
    trivial,
    trivial_permutation,
)


def test_regular_table_gives_the_regular_matrices() -> None:
    for group in (cyclic(5), dihedral(4), symmetric(3)):
        table = regular_permutation(group)
        assert table.dim == group.order
        assert torch.equal(table.permutations, group.table)
        assert torch.equal(table.representation().matrices, regular(group).matrices)
        assert torch.equal(table.generator_permutations, group.table[group.generators()])


def test_recognises_dense_permutation_representations() -> None:
    perms = symmetric_permutations(3)
    natural = permutation(symmetric(3), perms)
    assert torch.equal(as_permutation(natural).permutations, perms)
    # ρ(g) e_i = e_{g·i}: column i of ρ(g) holds its 1 in row g·i.
    d4 = as_permutation(regular(dihedral(4)))
    assert torch.equal(d4.permutations, dihedral(4).table)
    # A tensor product of permutation representations permutes index pairs row-major.
    pair = as_permutation(tensor_product(natural, natural))
    expected = perms[:, :, None] * 3 + perms[:, None, :]
    assert torch.equal(pair.permutations, expected.reshape(6, 9))
    assert torch.equal(as_permutation(trivial(cyclic(3), 2)).permutations,
                       trivial_permutation(cyclic(3), 2).permutations)
    table = regular_permutation(cyclic(4))
    assert as_permutation(table) is table


def test_rejects_what_is_not_a_permutation_representation() -> None:
    with pytest.raises(ValueError, match=r"rep: expected a permutation representation.*sign\(S3\)"):
        as_permutation(sign(symmetric(3)))
    with pytest.raises(ValueError, match="Lie group SO"):
        as_permutation(so3_vector())
    with pytest.raises(TypeError, match="rep: expected a Representation or a Permutation"):
        as_permutation("C4")  # type: ignore[arg-type]


def test_from_permutations_validates_the_action() -> None:
    c3 = cyclic(3)
    shifts = torch.stack([torch.roll(torch.arange(3), -k) for k in range(3)])  # g·i = i + g
    rep = PermutationRepresentation.from_permutations(c3, shifts, name="shift")
    assert rep.name == "shift" and rep.dim == 3 and rep.group == c3
    with pytest.raises(TypeError, match="perm: expected an integer tensor"):
        PermutationRepresentation.from_permutations(c3, shifts.double())
    with pytest.raises(ValueError, match=r"perm: expected shape \[3, d\]"):
        PermutationRepresentation.from_permutations(c3, shifts[:2])
    with pytest.raises(ValueError, match="perm: expected each row to be a permutation"):
        PermutationRepresentation.from_permutations(c3, torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="perm: expected the identity"):
        PermutationRepresentation.from_permutations(c3, shifts[[1, 2, 0]])
    # g·i = i - g for the generator but i + 2g elsewhere: not a homomorphism.
    bad = shifts.clone()
    bad[1] = shifts[2]
    bad[2] = shifts[2]
    with pytest.raises(ValueError, match="perm: expected an action"):
        PermutationRepresentation.from_permutations(c3, bad)
    with pytest.raises(TypeError, match="group: expected a finite Group"):
        PermutationRepresentation.from_permutations("C3", shifts)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="PermutationRepresentation: use from_permutations"):
        PermutationRepresentation()


def test_dense_matrices_are_refused_when_huge() -> None:
    grid = grid_translations((24, 24))  # 576 elements on 576 points: 576³ float64 entries
    assert grid.dim == 576
    with pytest.raises(ValueError, match=r"dense matrices would need 1\.4 GiB"):
        grid.representation()


def test_equality_and_immutability() -> None:
    assert regular_permutation(cyclic(4)) == regular_permutation(cyclic(4))
    assert hash(regular_permutation(cyclic(4))) == hash(regular_permutation(cyclic(4)))
    assert regular_permutation(cyclic(4)) != trivial_permutation(cyclic(4), 4)
    with pytest.raises(AttributeError, match="immutable"):
        regular_permutation(cyclic(2)).name = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="dim: expected a positive int"):
        trivial_permutation(cyclic(2), 0)
