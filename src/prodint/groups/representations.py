"""Real matrix representations of finite groups and of SO(2) / SO(3).

A representation of a finite group ``G`` is a homomorphism ``rho: G -> GL(d, R)``, stored as the
``[|G|, d, d]`` float64 tensor of all its matrices. A representation of a connected Lie group is
stored through its Lie-algebra generators ``X_i`` (``[k, d, d]``), with
``rho(exp(sum_i t_i A_i)) = expm(sum_i t_i X_i)``.

Either way :attr:`Representation.generators` is the ``[k, d, d]`` stack that pins down the
representation and is what equivariance constraints are imposed on.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from prodint.groups.finite import Group, symmetric, symmetric_permutations
from prodint.groups.frozen import FrozenSlots
from prodint.groups.lie import SO2, SO3, LieGroup

__all__ = [
    "Representation",
    "action_table",
    "lie_trivial",
    "permutation",
    "regular",
    "sign",
    "so2_vector",
    "so3_vector",
    "trivial",
]

# Tolerance (scaled by the magnitude of the matrices) for accepting user-given matrices as a
# homomorphism or Lie-algebra generators as satisfying the brackets.
HOMOMORPHISM_ATOL = 1e-9


def _as_float64(x: Any, arg: str) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    if t.is_complex():
        raise TypeError(f"{arg}: expected real matrices, got dtype {t.dtype}")
    return t.to(device="cpu", dtype=torch.float64).contiguous()


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

    Construct with :meth:`from_matrices`, :meth:`from_lie_algebra` or the module's constructors.
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

        Checks ``rho(e) = I`` and ``rho(g) rho(b) = rho(g * b)`` for every generator ``g`` and
        every element ``b`` (to ``1e-9`` times the matrix scale); by induction on words in the
        generators this implies ``rho(a) rho(b) = rho(a * b)`` for all ``a, b``.

        Raises:
            TypeError: ``group`` is not a Group or the matrices are complex.
            ValueError: wrong shape or not a homomorphism.
        """
        if not isinstance(group, Group):
            raise TypeError(f"group: expected a finite Group, got {type(group).__name__}")
        m = _as_float64(matrices, "matrices")
        n = group.order
        if m.dim() != 3 or m.shape[0] != n or m.shape[1] != m.shape[2]:
            raise ValueError(
                f"matrices: expected shape [{n}, d, d] for {group.name}, got {tuple(m.shape)}"
            )
        d = m.shape[1]
        scale = max(1.0, float(m.abs().max())) if m.numel() else 1.0
        tol = HOMOMORPHISM_ATOL * scale * scale * max(d, 1)
        err_e = float((m[group.identity] - torch.eye(d, dtype=torch.float64)).abs().max())
        if d and err_e > tol:
            raise ValueError(f"matrices: expected rho(identity) = I, got max deviation {err_e:.3e}")
        table = group._table
        for g in group.generators():
            err = (m[g] @ m - m[table[g]]).abs().amax(dim=(1, 2)) if d else torch.zeros(n)
            worst = int(err.argmax())
            if float(err[worst]) > tol:
                raise ValueError(
                    "matrices: expected a homomorphism rho(a) rho(b) = rho(a*b) to "
                    f"{HOMOMORPHISM_ATOL:g}, got max error {float(err[worst]):.3e} at "
                    f"(a, b) = ({g}, {worst})"
                )
        return cls._trusted(group, m.clone(), None, name or f"rep({group.name}, {d})")

    @classmethod
    def from_lie_algebra(
        cls, group: LieGroup, generators: Any, name: str | None = None
    ) -> Representation:
        """Build a Lie-group representation from ``[k, d, d]`` Lie-algebra matrices ``X_i``.

        Checks the brackets ``X_i X_j - X_j X_i = sum_l c_ijl X_l`` with the group's structure
        constants ``c`` (to ``1e-9`` times the squared matrix scale).
        """
        if not isinstance(group, LieGroup):
            raise TypeError(f"group: expected a LieGroup, got {type(group).__name__}")
        x = _as_float64(generators, "generators")
        k = group.dim
        if x.dim() != 3 or x.shape[0] != k or x.shape[1] != x.shape[2]:
            raise ValueError(
                f"generators: expected shape [{k}, d, d] for {group.name}, got {tuple(x.shape)}"
            )
        scale = max(1.0, float(x.abs().max())) if x.numel() else 1.0
        comm = torch.einsum("iab,jbc->ijac", x, x) - torch.einsum("jab,ibc->ijac", x, x)
        expected = torch.einsum("ijl,lac->ijac", group.structure_constants, x)
        err = float((comm - expected).abs().max()) if x.numel() else 0.0
        if err > HOMOMORPHISM_ATOL * scale * scale * max(x.shape[1], 1):
            raise ValueError(
                f"generators: expected the {group.name} brackets [X_i, X_j] = c_ijl X_l, "
                f"got max error {err:.3e}"
            )
        return cls._trusted(group, None, x.clone(), name or f"rep({group.name}, {x.shape[1]})")

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
        """``rho(g)`` as a ``[d, d]`` float64 tensor, for an element index ``g``."""
        if self._matrices is None:
            raise TypeError(f"{self._name}: use matrix_exp(t) for a Lie-group representation")
        n = self._matrices.shape[0]
        if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g < n:
            raise ValueError(f"g: expected an element index in 0..{n - 1}, got {g!r}")
        return self._matrices[g].clone()

    def matrix_exp(self, t: Any) -> torch.Tensor:
        """``rho(exp(sum_i t_i A_i)) = expm(sum_i t_i X_i)``.

        Args:
            t: ``[..., k]`` coordinates in the Lie algebra (a scalar is accepted when ``k = 1``;
                for SO(3) with the vector rep, ``t`` is the rotation vector).

        Returns:
            ``[..., d, d]`` float64 tensor.
        """
        if self._matrices is not None:
            raise TypeError(f"{self._name}: matrix_exp needs a Lie-group representation")
        tt = torch.as_tensor(t, dtype=torch.float64)
        k = self._generators.shape[0]
        if k == 1 and (tt.dim() == 0 or tt.shape[-1] != 1):
            tt = tt[..., None]
        if tt.dim() == 0 or tt.shape[-1] != k:
            raise ValueError(f"t: expected shape [..., {k}], got {tuple(tt.shape)}")
        return torch.linalg.matrix_exp(torch.einsum("...i,iab->...ab", tt, self._generators))

    def __repr__(self) -> str:
        return f"Representation({self._name!r}, group={self._group.name}, dim={self.dim})"


def trivial(group: Group, dim: int = 1) -> Representation:
    """``rho(g) = I_dim`` for every element."""
    if not isinstance(group, Group):
        raise TypeError(f"group: expected a finite Group, got {type(group).__name__}")
    _check_dim(dim)
    eye = torch.eye(dim, dtype=torch.float64).expand(group.order, dim, dim)
    return Representation._trusted(group, eye.clone(), None, f"trivial({group.name}, {dim})")


def _check_dim(dim: object) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim: expected a non-negative int, got {type(dim).__name__}")
    if dim < 0:
        raise ValueError(f"dim: expected a non-negative int, got {dim}")


def action_table(group: Group, perm: Any, argument: str = "perm") -> torch.Tensor:
    """``perm`` checked as an action of ``group`` on ``d`` points: ``[|G|, d]`` long (a copy).

    Row ``g`` is the permutation ``i ↦ g · i``. An action has ``perm[identity] = id`` and
    ``perm[a, perm[b, i]] = perm[a*b, i]``, checked exactly for the generators ``a`` and all
    ``b``; with the identity this extends to all pairs by induction on words in the generators.

    Args:
        group: a finite group of order ``n``.
        perm: ``[n, d]`` integer tensor or nested list.
        argument: the name used in error messages.

    Raises:
        TypeError: ``group`` is not a Group, ``perm`` is not integer-valued.
        ValueError: wrong shape, a row that is not a permutation, not an action.
    """
    if not isinstance(group, Group):
        raise TypeError(f"group: expected a finite Group, received {type(group).__name__}")
    p = perm.detach() if isinstance(perm, torch.Tensor) else torch.as_tensor(perm)
    if p.is_floating_point() or p.is_complex() or p.dtype == torch.bool:
        raise TypeError(f"{argument}: expected an integer tensor, received dtype {p.dtype}")
    p = p.to(device="cpu", dtype=torch.long).clone()
    n = group.order
    if p.dim() != 2 or p.shape[0] != n:
        raise ValueError(f"{argument}: expected shape [{n}, d] for {group.name}, received "
                         f"{tuple(p.shape)}")
    d = p.shape[1]
    rows = (torch.sort(p, dim=1).values == torch.arange(d)).all(dim=1)
    if not bool(rows.all()):
        g = int((~rows).nonzero()[0])
        raise ValueError(f"{argument}: expected each row to be a permutation of 0..{d - 1}, "
                         f"received row {g} = {p[g].tolist()[:16]}")
    if not bool((p[group.identity] == torch.arange(d)).all()):
        raise ValueError(f"{argument}: expected the identity (element {group.identity}) to fix "
                         f"every point, received {p[group.identity].tolist()[:16]}")
    for g in group.generators():
        bad = (p[g][p] != p[group._table[g]]).any(dim=-1).nonzero()
        if bad.numel():
            raise ValueError(f"{argument}: expected an action perm[a][perm[b]] = perm[a*b], "
                             f"received a failure at (a, b) = ({g}, {int(bad[0])})")
    return p


def permutation(group: Group, perm: Any, name: str | None = None) -> Representation:
    """Permutation representation ``rho(g) e_i = e_{perm[g, i]}``.

    Args:
        group: a finite group of order ``n``.
        perm: ``[n, m]`` integer tensor; row ``g`` is the permutation of ``m`` points by ``g``.
            It must be an action (:func:`action_table` checks it).

    Returns:
        A representation of dimension ``m`` with ``rho(g)[perm[g, i], i] = 1``.
    """
    p = action_table(group, perm)
    n, m = p.shape
    mats = torch.zeros(n, m, m, dtype=torch.float64)
    mats.scatter_(1, p[:, None, :], 1.0)
    return Representation._trusted(group, mats, None, name or f"perm({group.name}, {m})")


def regular(group: Group) -> Representation:
    """Left regular representation ``rho(g) e_h = e_{g*h}`` (``P[g*h, h] = 1``), dim ``|G|``."""
    if not isinstance(group, Group):
        raise TypeError(f"group: expected a finite Group, got {type(group).__name__}")
    return permutation(group, group._table, name=f"regular({group.name})")


def sign(group: Group) -> Representation:
    """The sign representation of a symmetric group (as built by ``symmetric(m)``)."""
    if not isinstance(group, Group):
        raise TypeError(f"group: expected a symmetric Group, got {type(group).__name__}")
    m, fact = 1, 1
    while fact < group.order:
        m += 1
        fact *= m
    if fact != group.order or group != symmetric(m):
        raise ValueError(f"group: expected a symmetric group symmetric(m), got {group!r}")
    perms = symmetric_permutations(m)
    # Parity = number of inversions mod 2, counted for all permutations at once.
    inversions = (perms[:, :, None] > perms[:, None, :]).triu(diagonal=1).sum(dim=(1, 2))
    parity = 1.0 - 2.0 * (inversions % 2).to(torch.float64)
    return Representation._trusted(group, parity.reshape(-1, 1, 1), None, f"sign({group.name})")


def so2_vector() -> Representation:
    """SO(2) acting on R^2 by rotation: generator ``[[0, -1], [1, 0]]``."""
    x = torch.tensor([[[0.0, -1.0], [1.0, 0.0]]], dtype=torch.float64)
    return Representation._trusted(SO2, None, x, "vector(SO(2))")


def so3_vector() -> Representation:
    """SO(3) acting on R^3 by rotation: generators ``(L_i)_jk = -epsilon_ijk``.

    Then ``[L_x, L_y] = L_z`` (cyclically) and ``expm(t . L) v = v`` rotated about ``t`` by
    ``|t|``, with ``L_i v = e_i x v``.
    """
    return Representation._trusted(SO3, None, -SO3.structure_constants, "vector(SO(3))")


def lie_trivial(group: LieGroup, dim: int = 1) -> Representation:
    """The trivial representation of a Lie group: all generators are zero ``[k, dim, dim]``."""
    if not isinstance(group, LieGroup):
        raise TypeError(f"group: expected a LieGroup, got {type(group).__name__}")
    _check_dim(dim)
    x = torch.zeros(group.dim, dim, dim, dtype=torch.float64)
    return Representation._trusted(group, None, x, f"trivial({group.name}, {dim})")
