"""Algebras whose structure constants are learned, optionally tied to a symmetry group.

A :class:`LearnedAlgebra` is ``R^n`` with the product ``(x · y)_c = Σ_{a,b} Γ[a, b, c] x_a y_b``
where ``Γ`` (``[n, n, n]``) is trained. Given a representation ``ρ`` of a group ``G`` on
``R^n``, the *equivariant* structure constants are those with

    Γ(ρ(g) x, ρ(g) y) = ρ(g) Γ(x, y)        for every g ∈ G,

or, on a chosen subset of the *legs* ``a`` (left factor), ``b`` (right factor) and ``c``
(output): ``legs=("b", "c")`` asks only ``Γ(x, ρ(g) y) = ρ(g) Γ(x, y)``, a space that contains
the group algebra ``R[G]`` itself when ``ρ`` is the regular representation, while all three legs
exclude it (``e_a e_b = e_{ab}`` is not moved along with ``a``). In the language of
:mod:`prodint.groups.legs`, ``Γ`` is invariant under ``ρ*`` on the chosen input legs and ``ρ`` on
the output leg. The space is found once, by the solvers of :mod:`prodint.groups`:

- ``ρ`` a permutation representation: the orbits of ``G`` on the chosen legs' index tuples
  (:func:`~prodint.groups.orbit_partition`); ``Γ = θ[ties]``, one coefficient per orbit and
  value of the legs left alone, the tie table :func:`~prodint.groups.tie_index` builds;
- otherwise (a Lie algebra): the orthonormal basis ``B`` of :func:`~prodint.groups.invariant_basis`
  on the chosen legs, ``Γ = Σ_k θ[k] B_k`` at every value of the legs left alone.

The tables and the projection are in :mod:`prodint.algebra.learned_legs`. This is the mechanism
of :func:`prodint.interaction.constrain.constrain`, and
:func:`prodint.interaction.learned.learned_structure_constants` writes the same ``Γ`` as an
expression (a ``Gather`` of ``theta`` or a ``Contract(Constant(B), theta)``) with the same
layout of ``theta``. Three modes:

=============== ============================================== ==========================
mode            parameters                                     symmetry
=============== ============================================== ==========================
``free``        ``gamma`` ``[n, n, n]``                        none (optional, monitored)
``regularized`` ``gamma`` ``[n, n, n]``                        soft: add the penalty
``constrained`` ``theta`` ``[m, *free legs]``, ``Γ`` as above   exact by construction
=============== ============================================== ==========================

The penalty is ``||Γ - P_G Γ||²`` with ``P_G`` the orthogonal projection onto the equivariant
subspace (Frobenius inner product): the average over each orbit for permutation
representations, ``Σ_k <Γ, B_k> B_k`` otherwise.

Initialisation is variance preserving: for ``x, y`` with i.i.d. zero-mean, unit-variance
coordinates, independent of each other and of ``Γ``, each output coordinate has variance
``E[(x · y)_c²] = E[Σ_{a,b} Γ[a, b, c]²]``, which the initial scale sets to 1:

- free / regularized, and constrained with a permutation representation:
  ``Γ[a, b, c] ~ N(0, σ²)`` with ``σ = 1/n`` (constrained: every entry is one coefficient, drawn
  so), since ``(x · y)_c`` sums ``n²`` terms of variance ``σ²``: exactly 1 for every ``c``;
- constrained with a basis of ``m`` tensors over ``N`` entries (``N = n^{legs}``):
  ``θ ~ N(0, s²)`` with ``s² = N / (m n²)`` (``n / m`` on all three legs), so ``Γ`` has the
  total variance of the free case: the output variance is 1 *on average over the coordinates*
  ``c``, and for every coordinate when ``ρ`` is irreducible and orthogonal (the distribution of
  ``Γ`` is then ``G``-invariant and so is the per-coordinate variance).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from prodint.algebra.arguments import (
    broadcast_batch,
    check_basis_names,
    check_label,
    check_workspace,
)
from prodint.algebra.catalogue import from_structure_constants
from prodint.algebra.core import Algebra
from prodint.algebra.learned_legs import (
    LEGS,
    check_legs,
    check_symmetry,
    check_table_size,
    equivariance_residual,
    full_basis,
    initial_std,
    leg_positions,
    permutes,
    project,
    spanned,
    symmetry_tables,
)
from prodint.checks import (
    check_choice,
    check_float,
    check_generator,
    check_int,
    check_memory,
)
from prodint.groups import (
    Representation,
    dual,
)

MODES = ("free", "regularized", "constrained")

#: The largest ``init_std``: initial constants beyond it overflow float32 products and penalties.
MAX_INIT_STD = 1e3
#: Bytes planned per entry of ``Γ`` (the parameter or tie table and the ``Γ`` built from it).
BYTES_PER_ENTRY = 16

# Residual allowed by is_equivariant per parameter dtype (times max(1, max|Γ|)): a few hundred
# units of rounding for the contractions that build and test Γ.
_EQUIVARIANCE_ATOL = {torch.float64: 1e-9, torch.float32: 1e-5}


class LearnedAlgebra(nn.Module):
    """An algebra on ``R^n`` with trainable structure constants ``Γ`` (see the module doc).

    Args:
        dim: the dimension ``n``.
        symmetry: a :class:`~prodint.groups.Representation` of dimension ``n``; required by the
            ``regularized`` and ``constrained`` modes, optional (for monitoring) in ``free``.
        mode: ``"free"``, ``"regularized"`` or ``"constrained"``.
        legs: the legs of ``Γ[a, b, c]`` the symmetry acts on (default all three);
            ``("b", "c")`` or ``("a", "c")`` keep the group algebra reachable.
        name: a short name shown in reports (default ``"Learned{n}"``).
        basis_names: one name per basis element (default ``e0 … e{n-1}``).
        init_std: standard deviation of the initial ``Γ`` entries (free, regularized) or ``θ``
            (constrained); default the variance-preserving one (module doc).
        generator: random generator for the initialisation (CPU).

    Attributes:
        gamma: ``[n, n, n]`` parameter (free, regularized) or ``None``.
        theta: ``[m, *n per leg left alone]`` parameter (constrained) or ``None``.
        ties: ``[n, n, n]`` long buffer for a permutation representation: ``Γ`` is
            ``theta.flatten()[ties]``; equal values mark one orbit. ``None`` otherwise.
        leg_basis: ``[m, *n per chosen leg]`` buffer, the orthonormal invariant basis on the
            chosen legs, for a representation that does not permute; ``None`` otherwise.
        basis: (property) ``[M, n, n, n]`` orthonormal basis of all the equivariant ``Γ`` (the
            orbit indicators or ``leg_basis`` times unit vectors of the legs left alone), or
            ``None`` without a symmetry.

    The tables derive from ``symmetry`` and are not saved in the state dict. Parameters are
    created in the default dtype; ``.to()``, ``.double()`` and ``.cuda()`` move and cast them
    with the tables.

    Raises:
        TypeError: an argument of the wrong kind (a float ``dim``, a non-str name, a
            ``symmetry`` that is not a representation, a ``generator`` that is not one).
        ValueError: ``dim < 1``, an unknown mode, a symmetry of another dimension or missing
            for the mode, bad legs, ``init_std`` not in ``(0, 1e3]``, or a size for which ``Γ`` or
            equivariance solve does not fit in memory (the message gives the estimate).
    """

    gamma: nn.Parameter | None
    theta: nn.Parameter | None
    ties: Tensor | None
    leg_basis: Tensor | None

    def __init__(
        self,
        dim: int,
        *,
        symmetry: Representation | None = None,
        mode: str = "free",
        legs: Sequence[str] = LEGS,
        name: str | None = None,
        basis_names: Sequence[str] | None = None,
        init_std: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        dim = check_int(dim, "dim", minimum=1)
        check_memory(BYTES_PER_ENTRY * dim**3, "dim", f"structure constants [n, n, n] (n = {dim})")
        check_choice(mode, "mode", MODES)
        check_symmetry(symmetry, dim, mode)
        legs = check_legs(legs)
        if symmetry is not None:
            check_table_size(dim, legs, symmetry, permutes(symmetry))
        if init_std is not None:
            init_std = check_float(init_std, "init_std", minimum=0, strict_minimum=True,
                                   maximum=MAX_INIT_STD)
        check_generator(generator)
        self.basis_names: list[str] = (
            [f"e{i}" for i in range(dim)] if basis_names is None
            else check_basis_names(basis_names, dim))
        self.name = name if check_label(name, "name") is not None else f"Learned{dim}"
        self.dim = dim
        self.mode = mode
        self.symmetry = symmetry
        self.legs = legs
        dtype = torch.get_default_dtype()

        ties, leg_basis = self._tables()
        self.register_buffer("ties", ties, persistent=False)
        self.register_buffer("leg_basis", None if leg_basis is None else leg_basis.to(dtype),
                             persistent=False)

        if mode == "constrained":
            shape = self._theta_shape()
            std = init_std if init_std is not None else \
                initial_std(dim, self.legs, ties is not None, shape[0])
            theta = torch.randn(shape, generator=generator, dtype=dtype) * std
            self.theta = nn.Parameter(theta)
            self.register_parameter("gamma", None)
        else:
            std = init_std if init_std is not None else 1.0 / dim
            gamma = torch.randn(dim, dim, dim, generator=generator, dtype=dtype) * std
            self.gamma = nn.Parameter(gamma)
            self.register_parameter("theta", None)

    # ------------------------------------------------------------------ the symmetry's tables
    @property
    def leg_symmetry(self) -> dict[str, Representation]:
        """``{leg: representation}`` on ``Γ[a, b, c]``: ``ρ*`` on chosen inputs, ``ρ`` on ``c``.

        The symmetry in the form :func:`prodint.interaction.constrain.constrain` takes (see
        :mod:`prodint.groups.legs`); empty without a symmetry.
        """
        if self.symmetry is None:
            return {}
        return {leg: self.symmetry if leg == "c" else dual(self.symmetry) for leg in self.legs}

    def _positions(self) -> tuple[list[int], list[int]]:
        return leg_positions(self.legs)

    def _tables(self) -> tuple[Tensor | None, Tensor | None]:
        """``(ties, leg_basis)`` in float64 from the symmetry (one of them, or neither)."""
        if self.symmetry is None:
            return None, None
        return symmetry_tables(self.dim, self.legs, self.leg_symmetry, permutes(self.symmetry))

    def _theta_shape(self) -> tuple[int, ...]:
        _, free = self._positions()
        if self.ties is not None:
            m = (int(self.ties.max()) + 1) // self.dim ** len(free)
        else:
            assert self.leg_basis is not None
            m = self.leg_basis.shape[0]
        return (m, *([self.dim] * len(free)))

    def _apply(self, fn, recurse=True):  # type: ignore[override]
        super()._apply(fn, recurse)
        if self.leg_basis is not None:
            # Rebuild from the float64 original rather than keep the cast: a basis that went
            # through float32 on its way to float64 would be equivariant only to ~1e-8.
            _, exact = self._tables()
            assert exact is not None
            self.leg_basis = exact.to(device=self.leg_basis.device, dtype=self.leg_basis.dtype)
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> LearnedAlgebra:
        # Representations are immutable, so a copy may share this one; they also refuse the
        # attribute-setting protocol deepcopy would use to clone them.
        if self.symmetry is not None:
            memo[id(self.symmetry)] = self.symmetry
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return new

    # ------------------------------------------------------------------ structure
    @property
    def _parameter(self) -> Tensor:
        return cast(Tensor, self.theta if self.gamma is None else self.gamma)

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the parameters (and of accepted inputs)."""
        return self._parameter.dtype

    @property
    def device(self) -> torch.device:
        """Device holding the parameters."""
        return self._parameter.device

    @property
    def structure_constants(self) -> Tensor:
        """Dense ``[n, n, n]`` ``Γ`` with ``e_a e_b = Σ_c Γ[a, b, c] e_c``, differentiable.

        Free / regularized: the parameter ``gamma`` itself. Constrained: ``theta`` through the
        tie table or the basis, recomputed on every call so gradients reach ``theta``.
        """
        if self.gamma is not None:
            return self.gamma
        assert self.theta is not None
        n = self.dim
        if self.ties is not None:
            return self.theta.reshape(-1)[self.ties]
        free = n ** (3 - len(self.legs))  # explicit, so that m = 0 reshapes too
        return self._spanned(self.theta.reshape(self.theta.shape[0], free))

    def _spanned(self, coefficients: Tensor) -> Tensor:
        assert self.leg_basis is not None
        return spanned(self.leg_basis, coefficients, self.legs)

    def _project(self, gamma: Tensor) -> Tensor:
        return project(gamma, self.ties, self.leg_basis, self.legs)

    @property
    def basis(self) -> Tensor | None:
        """``[M, n, n, n]`` orthonormal basis of the equivariant ``Γ`` (parameter dtype), or
        ``None`` without a symmetry; built on each call from the tables."""
        if self.symmetry is None:
            return None
        return full_basis(self.ties, self.leg_basis, self.legs).to(device=self.device,
                                                                   dtype=self.dtype)

    def symmetry_penalty(self) -> Tensor:
        """``||Γ - P_G Γ||²``, the squared Frobenius distance to the equivariant subspace.

        A differentiable scalar in the parameters' dtype: zero up to rounding exactly when
        ``Γ`` is equivariant. Its gradient is ``2 (Γ - P_G Γ)``. Constrained mode returns a
        zero tensor (``Γ`` is equivariant by construction).

        Raises:
            ValueError: in free mode without a ``symmetry``.
        """
        if self.mode == "constrained":
            return torch.zeros((), dtype=self.dtype, device=self.device)
        if self.symmetry is None:
            raise ValueError(
                f"symmetry_penalty: {self.name} has no symmetry; construct it with "
                "symmetry=<Representation> to measure its distance to the equivariant products"
            )
        gamma = self.structure_constants
        # The residual is formed explicitly instead of ||Γ||² - ||P Γ||², which would cancel
        # catastrophically and lose the "exactly zero on the subspace" guarantee.
        residual = gamma - self._project(gamma)
        return (residual * residual).sum()

    @torch.no_grad()
    def project_(self) -> LearnedAlgebra:
        """Replace ``gamma`` in place by its equivariant part ``P_G Γ``; returns ``self``.

        A no-op in constrained mode. Raises ``ValueError`` without a symmetry.
        """
        if self.gamma is None:
            return self
        if self.symmetry is None:
            raise ValueError(f"project_: {self.name} has no symmetry to project onto")
        self.gamma.copy_(self._project(self.gamma))
        return self

    def is_equivariant(self, atol: float | None = None) -> bool:
        """Whether ``Γ`` is equivariant on its legs, checked on the generators.

        On all legs: ``Γ(ρ(g) x, ρ(g) y) = ρ(g) Γ(x, y)``; a leg left alone is not moved (with
        ``legs=("b", "c")``: ``Γ(x, ρ(g) y) = ρ(g) Γ(x, y)``). For a finite group the identity
        on a generating set implies it for every element; for a Lie group its derivative (the
        sum over the chosen legs of ``X`` acting there) on each Lie-algebra generator ``X`` is
        equivalent (the group is connected). Computed in float64 with residual
        ``<= atol · max(1, max|Γ|)``; default ``atol`` 1e-9 for float64 parameters, 1e-5 for
        float32, 1e-2 otherwise.

        Raises:
            ValueError: without a ``symmetry``, or ``atol`` negative, NaN or infinite.
        """
        if self.symmetry is None:
            raise ValueError(f"is_equivariant: {self.name} has no symmetry to check against")
        if atol is None:
            atol = _EQUIVARIANCE_ATOL.get(self.dtype, 1e-2)
        atol = check_float(atol, "atol", minimum=0)
        g = self.structure_constants.detach().to(torch.float64)
        worst = equivariance_residual(g, self.symmetry, self.legs)
        scale = max(1.0, float(g.abs().max()))
        return worst <= atol * scale

    # ------------------------------------------------------------------ product
    def check_element(self, x: Tensor, argument: str) -> None:
        """Raise a clear error unless ``x`` is a ``[..., n]`` tensor of the algebra's dtype on
        its device."""
        # Algebra.check_element reads only dim, name, dtype and device, which this module
        # defines with the same meaning, so both classes reject bad inputs alike.
        Algebra.check_element(cast(Algebra, self), x, argument)

    def mul(self, x: Tensor, y: Tensor) -> Tensor:
        """The product ``(x · y)_c = Σ_{a,b} Γ[a, b, c] x_a y_b``, differentiable in ``Γ``.

        Args:
            x: ``[..., n]`` tensor; the last dimension is the algebra coordinate.
            y: ``[..., n]`` tensor; leading dimensions broadcast with ``x`` like torch.

        Returns:
            ``[broadcast(...), n]`` tensor in the algebra's dtype.

        Raises:
            TypeError: an operand that is not a tensor of the parameters' dtype.
            ValueError: an operand whose last dimension is not ``n``, on another device,
                leading dimensions that do not broadcast, a batch whose workspace does not fit
                in the memory budget.
        """
        self.check_element(x, "x")
        self.check_element(y, "y")
        batch = broadcast_batch(x, y).numel()
        n = self.dim
        check_workspace(batch * n * n * x.element_size(), "x, y",
                        f"product's [..., n, n] workspace for {batch:,} products")
        # Same two-matmul plan as kernels.dense: x first into one [..., n, n] intermediate.
        gamma = self.structure_constants.reshape(n, n * n)
        left = (x @ gamma).unflatten(-1, (n, n))  # [..., b, c]
        return (y.unsqueeze(-2) @ left).squeeze(-2)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Same as :meth:`mul`."""
        return self.mul(x, y)

    def to_algebra(self) -> Algebra:
        """A fixed :class:`~prodint.algebra.Algebra` with the current ``Γ`` (detached copy)."""
        gamma = self.structure_constants.detach().clone()
        return from_structure_constants(gamma, basis_names=list(self.basis_names), name=self.name)

    def extra_repr(self) -> str:
        sym = self.symmetry.name if self.symmetry is not None else None
        size = self._parameter.numel()
        legs = "".join(self.legs)
        return (f"name={self.name}, dim={self.dim}, mode={self.mode}, symmetry={sym}, "
                f"legs={legs}, params={size}")
