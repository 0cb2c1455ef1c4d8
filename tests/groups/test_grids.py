"""Grid actions against torch's own image transforms: roll, rot90, flip."""

import pytest
import torch

from prodint.groups import cyclic, dihedral, grid_rotations, grid_translations, symmetric


def moved(perm_row: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """The image transformed by g, read from the action: ``(T_g f)[g · p] = f[p]``."""
    out = torch.empty_like(image.reshape(-1))
    out[perm_row] = image.reshape(-1)
    return out.view_as(image)


def test_translations_are_rolls() -> None:
    shape = (3, 4)
    rep = grid_translations(shape)
    assert rep.group.order == 12 and rep.group.cyclic_shape == (3, 4) and rep.dim == 12
    image = torch.arange(12.0).view(shape)
    for a in range(12):
        shift = (a // 4, a % 4)
        assert torch.equal(moved(rep.permutations[a], image), torch.roll(image, shift, (0, 1)))
    assert grid_translations(5).group == cyclic(5)


@pytest.mark.parametrize("name", ["C1", "C2", "C4", "D1", "D2", "D4"])
@pytest.mark.parametrize("size", [4, 5])
def test_point_groups_are_rot90_and_flip(name: str, size: int) -> None:
    n = int(name[1])
    group = cyclic(n) if name[0] == "C" else dihedral(n)
    rep = grid_rotations(group, size)
    image = torch.randn(size, size, dtype=torch.float64)
    for element in range(group.order):
        k, f = (element, 0) if name[0] == "C" else (element % n, element // n)
        expected = torch.flip(image, (-1,)) if f else image
        expected = torch.rot90(expected, k * (4 // n), (-2, -1))
        assert torch.equal(moved(rep.permutations[element], image), expected), element


def test_bad_grids_are_refused() -> None:
    with pytest.raises(ValueError, match=r"group: expected one of \['C1'"):
        grid_rotations(cyclic(3), 5)
    with pytest.raises(ValueError, match="group: expected one of"):
        grid_rotations(symmetric(3), 5)
    with pytest.raises(ValueError, match="size: expected a positive int"):
        grid_rotations(cyclic(4), 0)
    with pytest.raises(ValueError, match=r"shape\[1\]: expected a positive int"):
        grid_translations((3, -1))
    with pytest.raises(ValueError, match="shape: expected at least one"):
        grid_translations(())
    with pytest.raises(TypeError, match=r"^shape\[0\]: expected an int, received 3\.0$"):
        grid_translations((3.0, 2))
    with pytest.raises(TypeError, match=r"^shape: expected an int, received None$"):
        grid_translations(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^size: expected an int, received 2.5$"):
        grid_rotations(cyclic(4), 2.5)  # type: ignore[arg-type]


def test_huge_grids_are_refused_with_the_estimate() -> None:
    with pytest.raises(ValueError, match=r"^shape: expected a size for which the Cayley table of "
                                         r"the "
                                         r"translations of 1,000,000 points fits in .*, received "
                                         r"one that would need about 29\.1 TiB$"):
        grid_translations((1000, 1000))
    with pytest.raises(ValueError, match=r"^shape: .* translations of 1,099,511,627,776 points"):
        grid_translations(2**40)
    with pytest.raises(ValueError, match=r"^size: expected a size for which action of D4 on "
                                         r"1099511627776x1099511627776 points fits in"):
        grid_rotations(dihedral(4), 2**40)
