"""SO(2): real circular harmonics, rotation-order layouts and equivariant bilinear maps.

The real irreps of SO(2) are indexed by the rotation order ``m >= 0``: ``m = 0`` is the
trivial 1-dim representation, ``m > 0`` acts on ``R^2`` by ``D_m(θ) = [[cos mθ, −sin mθ],
[sin mθ, cos mθ]]`` with Lie generator ``m J``, ``J = [[0, −1], [1, 0]]``. The circular
harmonics of an angle, ``h_0 = (1)`` and ``h_m(φ) = (cos mφ, sin mφ)``, satisfy
``h_m(φ + θ) = D_m(θ) h_m(φ)``: they are to SO(2) what spherical harmonics are to SO(3).

The equivariant bilinear maps ``V_k × V_{m1} → V_{m2}`` come from the equivariance solver
(null space of the Lie-algebra constraint, :func:`so2_bilinear_basis`). Their dimension
(:func:`so2_path_dimension`): when ``k`` and ``m1`` are positive, ``V_k ⊗ V_{m1} = V_{k+m1} ⊕
V_{|k−m1|}`` (with ``V_0`` twice, the dot and the cross product, when ``k = m1``), and each
copy of ``V_{m2}`` contributes ``dim Hom(V_{m2}, V_{m2})`` = 2 (1 for ``m2 = 0``) — the real
irreps ``m > 0`` are of complex type; when ``k`` or ``m1`` is 0 the product is the other
irrep.

A layout (:class:`CircularIrreps`) is written ``"4x0 + 2x1 + 2x2"``: a feature of that layout
is ``[..., dim]`` with blocks in order and, inside a block of ``mul x m``, channel-major
``[mul, dim_m]`` coordinates.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from prodint.checks import check_count, check_float, check_int, check_tensor
from prodint.groups import SO2, Representation, equivariant_basis, tensor_product
from prodint.symmetry.irreps import MAX_DIM

__all__ = [
    "MAX_ORDER",
    "CircularIrreps",
    "as_circular_irreps",
    "circular_D",
    "circular_harmonics",
    "circular_representation",
    "so2_bilinear_basis",
    "so2_path_dimension",
]

_BLOCK = re.compile(r"^(?:(\d+)\s*x\s*)?(\d+)$")


#: The largest rotation order: ``cos(m θ)`` loses every digit of ``θ`` long before ``m``
#: reaches an int64's range.
MAX_ORDER = 1 << 20


def _check_order(m: object, argument: str = "m") -> int:
    return check_int(m, argument, minimum=0, maximum=MAX_ORDER)


def _check_angles(value: object, argument: str) -> Tensor:
    """An angle (a finite real number, as a float64 tensor) or a floating tensor of angles."""
    if isinstance(value, Tensor):
        return check_tensor(value, argument)
    return torch.tensor(check_float(value, argument), dtype=torch.float64)


def _dim(m: int) -> int:
    return 1 if m == 0 else 2


@functools.cache
def _representation(m: int) -> Representation:
    if m == 0:
        gen = torch.zeros(1, 1, 1, dtype=torch.float64)
    else:
        gen = m * torch.tensor([[[0.0, -1.0], [1.0, 0.0]]], dtype=torch.float64)
    return Representation.from_lie_algebra(SO2, gen, name=f"D_{m}")


def circular_representation(m: int) -> Representation:
    """The order-``m`` irrep as a :class:`~prodint.groups.Representation` of SO(2) (cached)."""
    return _representation(_check_order(m))


def circular_D(m: int, theta: Tensor | float) -> Tensor:
    """``D_m(θ)``: ``[..., dim_m, dim_m]`` for angles ``θ [...]`` (float64 for a float)."""
    _check_order(m)
    t = _check_angles(theta, "theta")
    if m == 0:
        return torch.ones(*t.shape, 1, 1, dtype=t.dtype, device=t.device)
    c, s = torch.cos(m * t), torch.sin(m * t)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def circular_harmonics(m: int, phi: Tensor) -> Tensor:
    """``h_m(φ)``: ``[...] → [..., dim_m]`` (``(1)`` for ``m = 0``, ``(cos mφ, sin mφ)``)."""
    _check_order(m)
    check_tensor(phi, "phi")
    if m == 0:
        return torch.ones(*phi.shape, 1, dtype=phi.dtype, device=phi.device)
    return torch.stack([torch.cos(m * phi), torch.sin(m * phi)], -1)


@functools.cache
def _bilinear_basis(k: int, m1: int, m2: int) -> Tensor:
    rep_in = tensor_product(_representation(k), _representation(m1))
    basis = equivariant_basis(rep_in, _representation(m2))  # [n, d2, dk*d1]
    return basis.reshape(-1, _dim(m2), _dim(k), _dim(m1)).permute(0, 2, 3, 1).contiguous()


def so2_bilinear_basis(k: int, m1: int, m2: int) -> Tensor:
    """Orthonormal basis ``[n, dim_k, dim_m1, dim_m2]`` of the SO(2)-equivariant bilinear maps
    ``B(h, x)_c = Σ_{b,a} B[b, a, c] h_b x_a`` from ``V_k × V_{m1}`` to ``V_{m2}`` (module doc
    for ``n``), found by :func:`prodint.groups.equivariant_basis` and cached."""
    for value, name in ((k, "k"), (m1, "m1"), (m2, "m2")):
        _check_order(value, name)
    return _bilinear_basis(k, m1, m2).clone()


def so2_path_dimension(k: int, m1: int, m2: int) -> int:
    """The dimension of the equivariant bilinear maps ``V_k × V_{m1} → V_{m2}`` by the
    decomposition rule of the module doc (what the solver must find)."""
    for value, name in ((k, "k"), (m1, "m1"), (m2, "m2")):
        _check_order(value, name)
    if k == 0 or m1 == 0:
        other = k + m1
        return 0 if other != m2 else (1 if m2 == 0 else 2)
    if m2 == 0:
        return 2 if k == m1 else 0
    return 2 * ((m2 == k + m1) + (m2 == abs(k - m1)))


def as_circular_irreps(value: object, argument: str) -> CircularIrreps:
    """``value`` as a non-empty :class:`CircularIrreps` layout; errors name ``argument``."""
    try:
        irreps = CircularIrreps(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        _, sep, rest = str(error).partition(": ")
        raise type(error)(f"{argument}: {rest if sep else error}") from None
    if irreps.dim == 0:
        raise ValueError(f"{argument}: expected a layout with at least one channel, received "
                         f"{value!r}")
    return irreps


class CircularIrreps:
    """A layout of SO(2) irreps, ``"4x0 + 2x1"`` or a sequence of ``(mul, m)``.

    Raises:
        TypeError: ``spec`` of the wrong kind.
        ValueError: a malformed block, a negative multiplicity, an order above
            :data:`MAX_ORDER`, or more than :data:`~prodint.symmetry.irreps.MAX_DIM`
            coordinates.

    Attributes:
        blocks: tuple of ``(mul, m)``.
        dim: ``Σ mul · dim_m``.
    """

    __slots__ = ("blocks",)

    blocks: tuple[tuple[int, int], ...]

    def __init__(self, spec: str | CircularIrreps | Sequence[tuple[int, int]]) -> None:
        if isinstance(spec, CircularIrreps):
            blocks = list(spec.blocks)
        elif isinstance(spec, str):
            blocks = []
            for part in (s.strip() for s in spec.split("+")):
                match = _BLOCK.match(part)
                if match is None:
                    raise ValueError(f"spec: expected blocks like '4x0 + 2x1', received "
                                     f"{spec!r} (cannot read {part!r})")
                blocks.append((int(match.group(1) or 1),
                               _check_order(int(match.group(2)), "spec")))
        elif isinstance(spec, Sequence):
            blocks = []
            for item in spec:
                if not (isinstance(item, tuple) and len(item) == 2):
                    raise TypeError(f"spec: expected (mul, m) pairs, received {item!r}")
                mul, m = item
                blocks.append((check_int(mul, "spec", minimum=0), _check_order(m, "spec")))
        else:
            raise TypeError(f"spec: expected a string or a sequence of (mul, m), received "
                            f"{type(spec).__name__}")
        check_count(sum(mul * _dim(m) for mul, m in blocks), "spec", "coordinates", MAX_DIM)
        object.__setattr__(self, "blocks", tuple(blocks))

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"CircularIrreps is immutable; cannot set {key!r}")

    def __reduce__(self) -> tuple[type, tuple[tuple[tuple[int, int], ...]]]:
        """Copies and pickles rebuild through the constructor (attributes are read-only)."""
        return (CircularIrreps, (self.blocks,))

    @property
    def dim(self) -> int:
        return sum(mul * _dim(m) for mul, m in self.blocks)

    def slices(self) -> list[slice]:
        out, start = [], 0
        for mul, m in self.blocks:
            out.append(slice(start, start + mul * _dim(m)))
            start += mul * _dim(m)
        return out

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.blocks)

    def __len__(self) -> int:
        return len(self.blocks)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = CircularIrreps(other)
        return isinstance(other, CircularIrreps) and self.blocks == other.blocks

    def __hash__(self) -> int:
        return hash(self.blocks)

    def __str__(self) -> str:
        return " + ".join(f"{mul}x{m}" for mul, m in self.blocks)

    def __repr__(self) -> str:
        return f"CircularIrreps({str(self)!r})"

    def D(self, theta: float) -> Tensor:
        """``[dim, dim]`` float64 block-diagonal ``I_mul ⊗ D_m(θ)`` (``θ`` a finite angle)."""
        check_float(theta, "theta")
        blocks = [circular_D(m, theta) for mul, m in self.blocks for _ in range(mul)]
        return torch.block_diag(*blocks) if blocks else torch.zeros(0, 0, dtype=torch.float64)

    def representation(self) -> Representation:
        """The SO(2) :class:`~prodint.groups.Representation` of this layout."""
        gens = [circular_representation(m).generators[0] for mul, m in self.blocks
                for _ in range(mul)]
        gen = torch.block_diag(*gens)[None]
        return Representation.from_lie_algebra(SO2, gen, name=f"SO(2) on {self}")

