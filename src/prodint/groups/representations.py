"""Real matrix representations of finite groups and of SO(2) / SO(3).

A representation of a finite group ``G`` is a homomorphism ``rho: G -> GL(d, R)``, stored as the
``[|G|, d, d]`` float64 tensor of all its matrices. A representation of a connected Lie group is
stored through its Lie-algebra generators ``X_i`` (``[k, d, d]``), with
``rho(exp(sum_i t_i A_i)) = expm(sum_i t_i X_i)``.

Either way :attr:`Representation.generators` is the ``[k, d, d]`` stack that pins down the
representation and is what equivariance constraints are imposed on. The standard
representations (trivial, permutation, regular, sign, vector) are built in
:mod:`prodint.groups.standard`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from prodint.checks import check_float, check_int
from prodint.groups.checks import check_kind, check_name, real_matrices
from prodint.groups.finite import Group
from prodint.groups.frozen import FrozenSlots
from prodint.groups.lie import LieGroup

__all__ = ["Representation"]

# Relative tolerance for accepting user-given matrices as a homomorphism, or Lie-algebra
# generators as satisfying the brackets. Each entry of a product ``A B`` that should equal
# ``C`` is compared with its round-off scale ``(|A| |B|)_ij + max|C|`` (the bound of a
# floating-point matrix product, and the scale of the matrix it must equal), so the tolerance
# follows the matrices of that one product, never the largest entry of the whole table, and
# never grows into ``inf`` (products that overflow are refused); ``rho(e) = I`` is compared
# absolutely.
HOMOMORPHISM_RTOL = 1e-9

# ``matrix_exp`` refuses exponents whose entries sum (per row) above this: the scaling and
# squaring of ``torch.linalg.matrix_exp`` keeps about ``1e-16 · |A|`` of accuracy, so beyond
# ``1e6`` the result would carry errors above ``1e-10`` and, far beyond, NaN.
EXP_LIMIT = 1e6


def _relative_error(product: torch.Tensor, bound: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
    """``max_ij |P - C| / ((|A| |B|)_ij + max|C|)`` over the last two dims (0 where both
    vanish), for ``P = A B`` with ``bound = |A| |B|``."""
    largest = target.abs().amax(dim=(-2, -1), keepdim=True)
    scale = (bound + largest).clamp_min(torch.finfo(torch.float64).tiny)
    return ((product - target).abs() / scale).amax(dim=(-2, -1))


def _check_products(bound: torch.Tensor, argument: str, largest: float) -> None:
    if not bool(torch.isfinite(bound).all()):
        raise ValueError(f"{argument}: expected entries whose products are finite in float64, "
                         f"received entries up to {largest:.3e}")


class Representation(FrozenSlots):
    """An immutable real representation of a finite group or of SO(2) / SO(3).

    Attributes:
        group: the :class:`~prodint.groups.finite.Group` or :class:`~prodint.groups.lie.LieGroup`.
        dim: the representation dimension ``d``.
        is_lie: whether ``group`` is a Lie group.
        generators: ``[k, d, d]`` float64; ``rho(g)`` for ``g`` in ``group.generators()`` (finite)
            or the Lie-algebra matrices ``X_i`` (Lie).
        matrices: ``[|G|, d, d]`` float64, ``rho`` of every element (finite groups only).
        name: a short label.

    Construct with :meth:`from_matrices`, :meth:`from_lie_algebra` or the constructors of
    :mod:`prodint.groups.standard`.
    """

    __slots__ = ("_generators", "_group", "_key", "_matrices", "_name")

    _group: Group | LieGroup
    _matrices: torch.Tensor | None
    _generators: torch.Tensor
    _name: str
    _key: bytes

    def __init__(self) -> None:
        raise TypeError(
            "Representation: use Representation.from_matrices / from_lie_algebra or a constructor"
        )

    @classmethod
    def _trusted(
        cls,
        group: Group | LieGroup,
        matrices: torch.Tensor | None,
        generators: torch.Tensor | None,
        name: str,
    ) -> Representation:
        self = object.__new__(cls)
        if matrices is not None:
            assert isinstance(group, Group)
            matrices = matrices.to(torch.float64).contiguous()
            generators = matrices[group.generators()]
        assert generators is not None
        generators = generators.to(torch.float64).contiguous()
        # Equivariance caches key on this digest, so it must cover everything the constraints
        # depend on: the group and the defining matrices.
        digest = hashlib.sha256()
        digest.update(repr((group.name, type(group).__name__, tuple(generators.shape))).encode())
        if isinstance(group, Group):
            digest.update(group._table.numpy().tobytes())
        digest.update((matrices if matrices is not None else generators).numpy().tobytes())
        sets = object.__setattr__
        sets(self, "_group", group)
        sets(self, "_matrices", matrices)
        sets(self, "_generators", generators)
        sets(self, "_name", name)
        sets(self, "_key", digest.digest())
        return self

    @classmethod
    def from_matrices(cls, group: Group, matrices: Any, name: str | None = None) -> Representation:
        """Build a finite-group representation from ``[|G|, d, d]`` matrices, one per element.

        Checks ``rho(e) = I`` (to ``1e-9``) and ``rho(g) rho(b) = rho(g * b)`` for every
        generator ``g`` and every element ``b``, each entry to ``1e-9`` of its round-off scale
        ``(|rho(g)| |rho(b)|)_ij + max|rho(g * b)|``; by induction on words in the generators
        this implies ``rho(a) rho(b) = rho(a * b)`` for all ``a, b``.

        Raises:
            TypeError: ``group`` is not a Group, the matrices are not real, ``name`` is not a
                str.
            ValueError: wrong shape, a NaN or infinite entry, entries whose products overflow,
                or not a homomorphism.
        """
        check_kind(group, "group", Group, "a finite Group")
        label = check_name(name)
        m = real_matrices(matrices, "matrices")
        n = group.order
        if m.dim() != 3 or m.shape[0] != n or m.shape[1] != m.shape[2]:
            raise ValueError(
                f"matrices: expected shape [{n}, d, d] for {group.name}, got {tuple(m.shape)}"
            )
        d = m.shape[1]
        if d:
            err_e = float((m[group.identity] - torch.eye(d, dtype=torch.float64)).abs().max())
            if err_e > HOMOMORPHISM_RTOL:
                raise ValueError(f"matrices: expected rho(identity) = I to "
                                 f"{HOMOMORPHISM_RTOL:g}, got max deviation {err_e:.3e}")
            magnitude = m.abs()
            for g in group.generators():
                target = m[group._table[g]]
                bound = magnitude[g] @ magnitude
                _check_products(bound, "matrices", float(magnitude.max()))
                err = _relative_error(m[g] @ m, bound, target)
                worst = int(err.argmax())
                if float(err[worst]) > HOMOMORPHISM_RTOL:
                    raise ValueError(
                        "matrices: expected a homomorphism rho(a) rho(b) = rho(a*b) to a "
                        f"relative {HOMOMORPHISM_RTOL:g}, got relative error "
                        f"{float(err[worst]):.3e} at (a, b) = ({g}, {worst})"
                    )
        return cls._trusted(group, m, None, label or f"rep({group.name}, {d})")

    @classmethod
    def from_lie_algebra(
        cls, group: LieGroup, generators: Any, name: str | None = None
    ) -> Representation:
        """Build a Lie-group representation from ``[k, d, d]`` Lie-algebra matrices ``X_i``.

        Checks the brackets ``X_i X_j - X_j X_i = sum_l c_ijl X_l`` with the group's structure
        constants ``c``, each entry to ``1e-9`` of its round-off scale
        ``(|X_i| |X_j| + |X_j| |X_i| + sum_l |c_ijl| |X_l|)_ab + max|sum_l c_ijl X_l|``.

        Raises:
            TypeError: ``group`` is not a LieGroup, the generators are not real, ``name`` is
                not a str.
            ValueError: wrong shape, a NaN or infinite entry, entries whose products overflow,
                or brackets that do not hold.
        """
        check_kind(group, "group", LieGroup, "a LieGroup")
        label = check_name(name)
        x = real_matrices(generators, "generators")
        k = group.dim
        if x.dim() != 3 or x.shape[0] != k or x.shape[1] != x.shape[2]:
            raise ValueError(
                f"generators: expected shape [{k}, d, d] for {group.name}, got {tuple(x.shape)}"
            )
        if x.numel():
            magnitude = x.abs()
            bound = torch.einsum("iab,jbc->ijac", magnitude, magnitude)
            bound = bound + bound.transpose(0, 1) + torch.einsum(
                "ijl,lac->ijac", group.structure_constants.abs(), magnitude)
            _check_products(bound, "generators", float(magnitude.max()))
            comm = torch.einsum("iab,jbc->ijac", x, x) - torch.einsum("jab,ibc->ijac", x, x)
            expected = torch.einsum("ijl,lac->ijac", group.structure_constants, x)
            err = float(_relative_error(comm, bound, expected).max())
            if err > HOMOMORPHISM_RTOL:
                raise ValueError(
                    f"generators: expected the {group.name} brackets [X_i, X_j] = c_ijl X_l to "
                    f"a relative {HOMOMORPHISM_RTOL:g}, got relative error {err:.3e}"
                )
        return cls._trusted(group, None, x, label or f"rep({group.name}, {x.shape[1]})")

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"Representation is immutable; cannot set {key!r}")

    @property
    def group(self) -> Group | LieGroup:
        return self._group

    @property
    def is_lie(self) -> bool:
        return isinstance(self._group, LieGroup)

    @property
    def dim(self) -> int:
        return int(self._generators.shape[-1])

    @property
    def name(self) -> str:
        return self._name

    @property
    def key(self) -> bytes:
        """A digest of the group and matrices, used to cache derived quantities."""
        return self._key

    @property
    def generators(self) -> torch.Tensor:
        """``[k, d, d]`` float64 (a copy): rho of the group generators or the Lie matrices."""
        return self._generators.clone()

    @property
    def matrices(self) -> torch.Tensor:
        """``[|G|, d, d]`` float64 (a copy); finite groups only."""
        if self._matrices is None:
            raise AttributeError(f"{self._name}: a Lie-group representation has no matrix table")
        return self._matrices.clone()

    def __call__(self, g: int) -> torch.Tensor:
        """``rho(g)`` as a ``[d, d]`` float64 tensor, for an element index ``g``.

        Raises:
            TypeError: a Lie-group representation, or ``g`` is not an int.
            ValueError: ``g`` is not in ``0 .. |G|-1``.
        """
        if self._matrices is None:
            raise TypeError(f"{self._name}: use matrix_exp(t) for a Lie-group representation")
        g = check_int(g, "g", minimum=0, maximum=self._matrices.shape[0] - 1)
        return self._matrices[g].clone()

    def matrix_exp(self, t: Any) -> torch.Tensor:
        """``rho(exp(sum_i t_i A_i)) = expm(sum_i t_i X_i)``.

        Args:
            t: ``[..., k]`` coordinates in the Lie algebra (a scalar is accepted when ``k = 1``;
                for SO(3) with the vector rep, ``t`` is the rotation vector).

        Returns:
            ``[..., d, d]`` float64 tensor, on the device of ``t``. NaN or infinite
            coordinates give NaN matrices, as in torch.

        Raises:
            TypeError: a finite-group representation, or ``t`` is not real.
            ValueError: ``t`` has the wrong last dim, is a NaN or infinite scalar, lies on the
                meta device, or gives an exponent with a row whose entries sum (in absolute
                value) above :data:`EXP_LIMIT` (the exponential would have lost its accuracy).
        """
        if self._matrices is not None:
            raise TypeError(f"{self._name}: matrix_exp needs a Lie-group representation")
        tt = _coordinates(t)
        k = self._generators.shape[0]
        if k == 1 and (tt.dim() == 0 or tt.shape[-1] != 1):
            tt = tt[..., None]
        if tt.dim() == 0 or tt.shape[-1] != k:
            raise ValueError(f"t: expected shape [..., {k}], got {tuple(tt.shape)}")
        exponent = torch.einsum("...i,iab->...ab", tt, self._generators.to(tt.device))
        rows = exponent.abs().sum(dim=-1)
        rows = rows[torch.isfinite(rows)]
        if rows.numel() and float(rows.max()) > EXP_LIMIT:
            raise ValueError(f"t: expected coordinates whose exponent sum_i t_i X_i has row sums "
                             f"of |entries| <= {EXP_LIMIT:g}, received one of "
                             f"{float(rows.max()):.3e}")
        return torch.linalg.matrix_exp(exponent)

    def __repr__(self) -> str:
        return f"Representation({self._name!r}, group={self._group.name}, dim={self.dim})"


def _coordinates(t: Any) -> torch.Tensor:
    """The Lie-algebra coordinates of ``matrix_exp`` as a float64 tensor on their device."""
    if isinstance(t, torch.Tensor):
        if t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"t: expected real coordinates, received dtype {t.dtype}")
        if t.device.type == "meta":
            raise ValueError("t: expected a tensor with data, received one on the meta device")
        return t.detach().to(torch.float64)
    if isinstance(t, bool | int | float):
        return torch.tensor(check_float(t, "t"), dtype=torch.float64)
    try:
        return torch.as_tensor(t, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"t: expected real coordinates (a tensor, number or nested list), "
                        f"received {type(t).__name__}") from exc
