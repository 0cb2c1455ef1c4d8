"""Irreducible representations of O(3) and typed feature layouts such as ``16x0e + 8x1o``.

An :class:`Irrep` ``(l, p)`` is the O(3) irrep of degree ``l >= 0`` (dimension ``2l + 1``) and
parity ``p = +1`` (even, ``"e"``) or ``-1`` (odd, ``"o"``): a rotation ``R`` acts by the Wigner
matrix ``D^l(R)`` and the inversion ``-I`` by ``p``. Restricted to SO(3) the parity is
invisible. Vectors (positions, velocities) are ``1o``; pseudovectors (angular momenta, cross
products of vectors) ``1e``; the spherical harmonics of degree ``l`` are ``l`` with parity
``(-1)^l``.

An :class:`Irreps` layout is a sequence of ``(multiplicity, irrep)`` blocks. A feature vector of
that layout is ``[..., dim]`` with the blocks concatenated in order, and inside a block of
``mul x (l, p)`` the ``mul`` copies are contiguous: ``x[..., start : start + mul * (2l+1)]``
viewed as ``[..., mul, 2l + 1]`` (channel-major, component last), e3nn's layout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from prodint.checks import check_choice, check_count, check_int
from prodint.groups import SO3, Representation
from prodint.symmetry.so3 import MAX_DEGREE, check_orthogonal, generators, wigner_D

__all__ = ["MAX_DIM", "Irrep", "Irreps", "as_irrep", "as_irreps"]

#: The most coordinates a layout may have (``Irreps("99999999x0e")`` is refused): every layer
#: on a layout allocates at least its ``dim``, most ``dim²``.
MAX_DIM = 1 << 20

_IRREP = re.compile(r"^(\d+)([eo])$")
_BLOCK = re.compile(r"^(?:(\d+)\s*x\s*)?(\d+[eo])$")


class Irrep:
    """The O(3) irrep of degree ``l`` and parity ``p`` (``Irrep(1, -1)`` or ``Irrep("1o")``).

    Raises:
        TypeError: ``l`` or ``p`` of the wrong kind (a float, a bool).
        ValueError: a malformed string, ``l`` outside ``0 … MAX_DEGREE``, ``p`` not ``±1``.

    Attributes:
        l: the degree ``l >= 0``.
        p: the parity, ``+1`` (even) or ``-1`` (odd).
        dim: ``2l + 1``.
    """

    __slots__ = ("l", "p")

    l: int
    p: int

    def __init__(self, l: int | str | Irrep, p: int | None = None) -> None:
        if isinstance(l, Irrep):
            if p is not None:
                raise ValueError(f"p: expected None when l is an Irrep, received {p!r}")
            l, p = l.l, l.p
        elif isinstance(l, str):
            if p is not None:
                raise ValueError(f"p: expected None when l is a string, received {p!r}")
            match = _IRREP.match(l.strip())
            if match is None:
                raise ValueError(f"l: expected an irrep like '0e' or '1o', received {l!r}")
            l, p = int(match.group(1)), 1 if match.group(2) == "e" else -1
        check_int(l, "l", minimum=0, maximum=MAX_DEGREE)
        if p is None:
            raise ValueError("p: expected +1 (even) or -1 (odd) with an int l, received None")
        check_choice(p, "p", (1, -1))
        object.__setattr__(self, "l", l)
        object.__setattr__(self, "p", p)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"Irrep is immutable; cannot set {key!r}")

    @property
    def dim(self) -> int:
        return 2 * self.l + 1

    def __mul__(self, other: Irrep) -> Iterator[Irrep]:
        """The irreps in ``self ⊗ other``: ``|l1 - l2| <= l <= l1 + l2`` with parity ``p1 p2``."""
        p = self.p * other.p
        for l in range(abs(self.l - other.l), self.l + other.l + 1):
            yield Irrep(l, p)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = Irrep(other)
        return isinstance(other, Irrep) and (self.l, self.p) == (other.l, other.p)

    def __hash__(self) -> int:
        return hash((self.l, self.p))

    def __lt__(self, other: Irrep) -> bool:
        return (self.l, -self.p) < (other.l, -other.p)

    def __str__(self) -> str:
        return f"{self.l}{'e' if self.p == 1 else 'o'}"

    def __repr__(self) -> str:
        return f"Irrep({str(self)!r})"

    def __reduce__(self) -> tuple[type, tuple[int, int]]:
        return Irrep, (self.l, self.p)


def _renamed(error: TypeError | ValueError, argument: str) -> TypeError | ValueError:
    """``error`` with the argument its message starts with replaced by ``argument``."""
    message = str(error)
    _, sep, rest = message.partition(": ")
    return type(error)(f"{argument}: {rest if sep else message}")


def as_irrep(value: object, argument: str) -> Irrep:
    """``value`` (an :class:`Irrep` or a string such as ``"1o"``) as an :class:`Irrep`; errors
    name ``argument``."""
    if isinstance(value, Irrep):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{argument}: expected an Irrep or a string like '1o', received "
                        f"{type(value).__name__} {value!r}")
    try:
        return Irrep(value)
    except (TypeError, ValueError) as error:
        raise _renamed(error, argument) from None


def as_irreps(value: object, argument: str, *, empty: bool = True) -> Irreps:
    """``value`` (an :class:`Irreps`, a string, a sequence of blocks) as an :class:`Irreps`;
    errors name ``argument``; ``empty=False`` refuses a layout without coordinates."""
    try:
        irreps = Irreps(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        raise _renamed(error, argument) from None
    if not empty and irreps.dim == 0:
        raise ValueError(f"{argument}: expected a layout with at least one coordinate, "
                         f"received {value!r}")
    return irreps


class Irreps:
    """A feature layout: ``(mul, irrep)`` blocks, parsed from ``"16x0e + 8x1o"``.

    Args:
        spec: a string (``"16x0e + 8x1o"``, ``"0e"``, ``""`` for the empty layout), another
            :class:`Irreps`, or a sequence of ``(mul, irrep)`` pairs / irreps.

    Raises:
        TypeError: ``spec`` of the wrong kind.
        ValueError: a malformed block (``"1x"``, ``"-1x0e"``), a negative multiplicity, or a
            layout of more than :data:`MAX_DIM` coordinates (``"99999999x0e"``).

    Attributes:
        blocks: tuple of ``(mul, Irrep)``; zero multiplicities are kept (they occupy no
            coordinates).
        dim: ``Σ mul (2l + 1)``.
    """

    __slots__ = ("blocks",)

    blocks: tuple[tuple[int, Irrep], ...]

    def __init__(self, spec: str | Irreps | Sequence[tuple[int, Irrep | str] | Irrep | str]
                 = "") -> None:
        blocks: list[tuple[int, Irrep]] = []
        if isinstance(spec, Irreps):
            blocks = list(spec.blocks)
        elif isinstance(spec, str):
            for part in (s.strip() for s in spec.split("+")):
                if not part and spec.strip() == "":
                    continue
                match = _BLOCK.match(part)
                if match is None:
                    raise ValueError(f"spec: expected blocks like '16x0e + 8x1o', received "
                                     f"{spec!r} (cannot read {part!r})")
                mul = int(match.group(1)) if match.group(1) is not None else 1
                blocks.append((mul, as_irrep(match.group(2), "spec")))
        elif isinstance(spec, Sequence):
            for item in spec:
                if isinstance(item, Irrep | str):
                    blocks.append((1, as_irrep(item, "spec")))
                elif isinstance(item, tuple) and len(item) == 2:
                    mul, ir = item
                    blocks.append((check_int(mul, "spec", minimum=0), as_irrep(ir, "spec")))
                else:
                    raise TypeError(f"spec: expected (mul, irrep) pairs or irreps, received "
                                    f"{item!r}")
        else:
            raise TypeError(f"spec: expected a string, Irreps or a sequence, received "
                            f"{type(spec).__name__}")
        check_count(sum(mul * ir.dim for mul, ir in blocks), "spec", "coordinates", MAX_DIM)
        object.__setattr__(self, "blocks", tuple(blocks))

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"Irreps is immutable; cannot set {key!r}")

    @property
    def dim(self) -> int:
        return sum(mul * ir.dim for mul, ir in self.blocks)

    @property
    def num_irreps(self) -> int:
        """``Σ mul``: the number of irreducible copies."""
        return sum(mul for mul, _ in self.blocks)

    @property
    def lmax(self) -> int:
        if not self.blocks:
            raise ValueError("Irreps: an empty layout has no lmax")
        return max(ir.l for _, ir in self.blocks)

    def slices(self) -> list[slice]:
        """The coordinate range of every block, in order."""
        out, start = [], 0
        for mul, ir in self.blocks:
            out.append(slice(start, start + mul * ir.dim))
            start += mul * ir.dim
        return out

    def __iter__(self) -> Iterator[tuple[int, Irrep]]:
        return iter(self.blocks)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> tuple[int, Irrep]:
        return self.blocks[i]

    def __add__(self, other: Irreps | str) -> Irreps:
        return Irreps([*self.blocks, *Irreps(other).blocks])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = Irreps(other)
        return isinstance(other, Irreps) and self.blocks == other.blocks

    def __hash__(self) -> int:
        return hash(self.blocks)

    def __str__(self) -> str:
        return " + ".join(f"{mul}x{ir}" for mul, ir in self.blocks)

    def __repr__(self) -> str:
        return f"Irreps({str(self)!r})"

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return Irreps, (str(self),)

    def check(self, x: object, argument: str) -> Tensor:
        """Return ``x`` if it is a floating tensor ``[..., dim]``; else a named error.

        Raises:
            TypeError: ``x`` is not a floating torch tensor.
            ValueError: its last dimension is not :attr:`dim`.
        """
        if not isinstance(x, Tensor):
            raise TypeError(f"{argument}: expected a torch.Tensor with layout {self}, received "
                            f"{type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"{argument}: expected a floating tensor, received dtype {x.dtype}")
        if x.dim() == 0 or x.shape[-1] != self.dim:
            raise ValueError(f"{argument}: expected shape [..., {self.dim}] for irreps {self}, "
                             f"received {tuple(x.shape)}")
        return x

    def D(self, rotation: Tensor) -> Tensor:
        """The block-diagonal matrix of an O(3) element acting on this layout.

        Args:
            rotation: ``[3, 3]`` orthogonal matrix ``Q`` (``det = ±1``). ``Q = det(Q) · R`` with
                ``R`` a rotation; block ``mul x (l, p)`` gets ``I_mul ⊗ p^{[det Q < 0]} D^l(R)``.

        Returns:
            ``[dim, dim]`` in ``rotation``'s dtype.
        """
        q = check_orthogonal(rotation, "rotation")
        if q.dim() != 2:
            raise ValueError(f"rotation: expected one [3, 3] matrix, received shape "
                             f"{tuple(q.shape)}")
        improper = bool(torch.linalg.det(q.to(torch.float64)) < 0)
        r = -q if improper else q
        out = torch.zeros(self.dim, self.dim, dtype=q.dtype, device=q.device)
        for (mul, ir), sl in zip(self.blocks, self.slices(), strict=True):
            if mul == 0:
                continue
            block = wigner_D(ir.l, r)
            if improper and ir.p == -1:
                block = -block
            out[sl, sl] = torch.block_diag(*[block] * mul)
        return out

    def representation(self) -> Representation:
        """The SO(3) :class:`~prodint.groups.Representation` of this layout (parity dropped).

        Its Lie-algebra generators are block diagonal with ``I_mul ⊗ X^l``
        (:func:`~prodint.symmetry.so3.generators`); it is what
        :func:`prodint.testing.assert_equivariant` and the equivariance solver take.
        """
        gens = torch.zeros(3, self.dim, self.dim, dtype=torch.float64)
        for (mul, ir), sl in zip(self.blocks, self.slices(), strict=True):
            if mul:
                x = generators(ir.l)
                gens[:, sl, sl] = torch.stack([torch.block_diag(*[g] * mul) for g in x])
        return Representation.from_lie_algebra(SO3, gens, name=f"SO(3) on {self}")
