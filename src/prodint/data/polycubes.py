"""Rotated polycubes: a 3-D point-cloud classification task generated on the fly.

The eight tetracubes (four unit cubes glued face to face, up to rotation) are the classes;
each sample is the ``[4, 3]`` cloud of cube centres, centred at the origin, optionally rotated
by a Haar-random rotation and jittered. Two of them, ``chiral_left`` and ``chiral_right``, are
mirror images of each other: no rotation maps one onto the other, so a rotation-invariant
classifier can tell them apart only through pseudoscalar (parity-odd) features such as a triple
product. Training on the canonical orientation and testing on random rotations measures how a
model generalises to unseen rotations: an exactly invariant model loses nothing.

The point order of a shape is fixed (the order listed in :data:`SHAPES`), which gives a model
on raw coordinates (an MLP on the flattened cloud) its best chance.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.checks import check_choice, check_dtype, check_float, check_int, check_memory
from prodint.symmetry.so3 import random_rotation

__all__ = ["CLASSES", "SHAPES", "make_polycubes", "shape_points"]

#: Integer cube centres of the eight tetracubes.
SHAPES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "chiral_left": ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0)),
    "chiral_right": ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, -1, 0)),
    "square": ((0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)),
    "line": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)),
    "corner": ((0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)),
    "L": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)),
    "T": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)),
    "zigzag": ((0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0)),
}
CLASSES: tuple[str, ...] = tuple(SHAPES)


def shape_points(name: str, dtype: torch.dtype = torch.float64) -> Tensor:
    """The ``[4, 3]`` centred cloud of shape ``name``.

    Raises:
        ValueError: ``name`` is not one of :data:`CLASSES`.
        TypeError: ``dtype`` is not a floating dtype.
    """
    if not isinstance(name, str) or name not in SHAPES:
        raise ValueError(f"name: expected one of {list(CLASSES)}, received {name!r}")
    check_dtype(dtype, optional=False)
    pts = torch.tensor(SHAPES[name], dtype=torch.float64)
    return (pts - pts.mean(0)).to(dtype)


def make_polycubes(n_per_class: int, *, rotations: str | int = "random", noise: float = 0.0,
                   generator: torch.Generator | None = None,
                   dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Sample a labelled set of polycube clouds.

    Args:
        n_per_class: samples per class.
        rotations: ``"none"`` (canonical orientation), ``"random"`` (a Haar-random rotation per
            sample) or an int ``r >= 1``: one of ``r`` fixed random rotations (drawn from
            ``generator`` first) per sample — the "few rotations" training regime.
        noise: standard deviation of Gaussian jitter added to every coordinate after the
            rotation (a real ``>= 0``, at most 1/16 of ``dtype``'s largest value, so that
            the positions stay finite).
        generator: random generator (CPU).
        dtype: dtype of the positions (a floating dtype).

    Returns:
        ``pos [8·n, 4, 3]`` and ``labels [8·n]`` (long, class indices into :data:`CLASSES`),
        classes interleaved.

    Raises:
        TypeError: ``n_per_class`` or ``rotations`` neither an int nor (``rotations``) a str,
            ``noise`` not a real number, ``generator`` not a ``torch.Generator``, ``dtype``
            not a floating dtype.
        ValueError: ``n_per_class < 1``, ``rotations`` not ``"none"``, ``"random"`` or a
            positive int, a NaN, negative or too large ``noise``, or a set too large for the
            memory budget.
    """
    check_int(n_per_class, "n_per_class", minimum=1)
    if isinstance(rotations, str):
        check_choice(rotations, "rotations", ("none", "random"))
    else:
        check_int(rotations, "rotations", minimum=1)
    check_dtype(dtype, optional=False)
    # a Gaussian draw beyond 16 σ has probability below 1e-57: the jitter cannot overflow
    noise = check_float(noise, "noise", minimum=0, maximum=torch.finfo(dtype).max / 16)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, received "
                        f"{type(generator).__name__}")
    n = n_per_class * len(CLASSES)
    # positions and their rotated copy (float64), the rotations, the labels
    check_memory(8.0 * n * (3 * 12 + 9 + 1), "n_per_class", f"set of {n} clouds")
    if isinstance(rotations, int):
        check_memory(8.0 * 9 * rotations, "rotations", f"{rotations} rotation matrices")
    base = torch.stack([shape_points(name) for name in CLASSES])  # [8, 4, 3]
    labels = torch.arange(len(CLASSES)).repeat(n_per_class)
    pos = base[labels]
    if rotations == "random":
        rot = random_rotation(n, generator=generator)
        pos = pos @ rot.transpose(1, 2)
    elif isinstance(rotations, int):
        fixed = random_rotation(rotations, generator=generator)
        choice = torch.randint(rotations, (n,), generator=generator)
        pos = pos @ fixed[choice].transpose(1, 2)
    if noise:
        pos = pos + noise * torch.randn(pos.shape, generator=generator, dtype=torch.float64)
    return pos.to(dtype), labels
