"""The rotated-polycube task: shapes, rotations, chirality, arguments."""

import itertools

import pytest
import torch

from prodint.data.polycubes import CLASSES, SHAPES, make_polycubes, shape_points


def _distances(points: torch.Tensor) -> list[float]:
    return sorted(round(float(d), 6) for d in torch.pdist(points))


def _handedness(points: torch.Tensor) -> float:
    """Signed volume det(p1 - p0, p2 - p0, p3 - p0) in the fixed point order: invariant under
    rotations, negated by mirrors."""
    return float(torch.linalg.det(points[1:] - points[0]))


def test_shapes_are_centred_tetracubes_distinct_up_to_rotation() -> None:
    assert len(CLASSES) == 8
    dists = {}
    for name in CLASSES:
        pts = shape_points(name)
        assert pts.shape == (4, 3)
        assert float(pts.mean(0).abs().max()) < 1e-12
        # Face-glued unit cubes: the cube centres form a connected graph at distance 1.
        adjacency = (torch.cdist(pts, pts) - 1).abs() < 1e-9
        reach = adjacency.double() + torch.eye(4, dtype=torch.float64)
        assert bool((torch.linalg.matrix_power(reach, 3) > 0).all())
        dists[name] = _distances(pts)
    # Distance multisets separate every pair except the two mirror images.
    same = [(a, b) for a, b in itertools.combinations(CLASSES, 2) if dists[a] == dists[b]]
    assert same == [("chiral_left", "chiral_right")]
    left = _handedness(shape_points("chiral_left"))
    right = _handedness(shape_points("chiral_right"))
    assert abs(left) > 1e-6 and abs(left + right) < 1e-9


def test_rotations_preserve_shape_and_handedness() -> None:
    g = torch.Generator().manual_seed(0)
    pos, labels = make_polycubes(5, rotations="random", generator=g, dtype=torch.float64)
    assert pos.shape == (40, 4, 3) and labels.tolist()[:8] == list(range(8))
    for p, label in zip(pos, labels, strict=True):
        ref = shape_points(CLASSES[label])
        assert _distances(p) == _distances(ref)
        assert abs(_handedness(p) - _handedness(ref)) < 1e-9
    canon, _ = make_polycubes(2, rotations="none", dtype=torch.float64)
    assert torch.equal(canon[:8], torch.stack([shape_points(n) for n in CLASSES]))
    few, _ = make_polycubes(20, rotations=2, generator=torch.Generator().manual_seed(1))
    # Two fixed rotations: every sample of a class is one of two point sets.
    firsts = {tuple(round(v, 4) for v in p[0].tolist()) for p in few[::8]}
    assert len(firsts) <= 2


def test_noise_and_dtype() -> None:
    a, _ = make_polycubes(3, rotations="none", noise=0.1, generator=torch.Generator())
    assert a.dtype == torch.float32
    assert 0.02 < float((a - make_polycubes(3, rotations="none")[0]).std()) < 0.2


@pytest.mark.parametrize("kwargs, match", [
    ({"n_per_class": 0}, "n_per_class"), ({"n_per_class": 1, "rotations": "some"}, "rotations"),
    ({"n_per_class": 1, "noise": -1.0}, "noise")])
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_polycubes(**kwargs)
    with pytest.raises(ValueError, match="name"):
        shape_points("S")
    assert set(SHAPES) == set(CLASSES)


def test_sizes_and_kinds_are_checked_before_sampling() -> None:
    with pytest.raises(ValueError, match=r"n_per_class: expected a size for which set of "
                                         r"8796093022208 clouds fits in"):
        make_polycubes(2**40)
    with pytest.raises(ValueError, match=r"rotations: expected a size for which 1099511627776 "
                                         r"rotation matrices fits in"):
        make_polycubes(1, rotations=2**40)
    with pytest.raises(TypeError, match=r"rotations: expected an int, received 2\.5"):
        make_polycubes(1, rotations=2.5)
    with pytest.raises(ValueError, match=r"noise: expected a finite number >= 0 and <= "
                                         r"2\.12676e\+37, received nan"):
        make_polycubes(1, noise=float("nan"))
    with pytest.raises(ValueError, match=r"noise: expected .*, received 1e\+300"):
        make_polycubes(1, noise=1e300)  # the float32 positions would be inf
    assert bool(torch.isfinite(make_polycubes(1, noise=1e300, dtype=torch.float64)[0]).all())
    with pytest.raises(TypeError, match=r"dtype: expected a floating torch\.dtype"):
        make_polycubes(1, dtype=torch.int64)
    with pytest.raises(TypeError, match=r"generator: expected a torch\.Generator or None"):
        make_polycubes(1, generator=0)
