"""Algebras whose structure constants are learned, optionally tied to a symmetry group.

A :class:`LearnedAlgebra` is ``R^n`` with the product ``(x · y)_c = Σ_{a,b} Γ[a, b, c] x_a y_b``
where ``Γ`` (``[n, n, n]``) is trained. Given a representation ``ρ`` of a group ``G`` on
``R^n``, the *equivariant* structure constants are those with

    Γ(ρ(g) x, ρ(g) y) = ρ(g) Γ(x, y)        for every g ∈ G,

a linear subspace spanned by an orthonormal basis ``B_1 … B_m`` (from
:func:`prodint.groups.equivariant_bilinear_basis`). Three modes use it differently:

=============== ============================================ ==========================
mode            parameters                                   symmetry
=============== ============================================ ==========================
``free``        ``gamma`` ``[n, n, n]``                      none (optional, monitored)
``regularized`` ``gamma`` ``[n, n, n]``                      soft: add the penalty
``constrained`` ``theta`` ``[m]``, ``Γ = Σ_k θ_k B_k``       exact by construction
=============== ============================================ ==========================

The penalty is ``||Γ - P_G Γ||²`` with ``P_G Γ = Σ_k <Γ, B_k> B_k`` the orthogonal projection
onto the equivariant subspace (Frobenius inner product).

Initialisation is variance preserving: for ``x, y`` with i.i.d. zero-mean, unit-variance
coordinates, independent of each other and of ``Γ``, each output coordinate has variance
``E[(x · y)_c²] = E[Σ_{a,b} Γ[a, b, c]²]``, which the initial scale sets to 1:

- free / regularized: ``Γ[a, b, c] ~ N(0, σ²)`` i.i.d. with ``σ = 1/n``, since ``(x · y)_c``
  sums ``n²`` terms of variance ``σ²``;
- constrained: ``θ_k ~ N(0, s²)`` with ``s = sqrt(n / m)``. The ``B_k`` are orthonormal, so
  ``E[Σ_{a,b,c} Γ²] = m s² = n``: the output variance is 1 *on average over the coordinates*
  ``c``. It is 1 for every coordinate when ``G`` permutes the coordinates transitively or
  ``ρ`` is irreducible and orthogonal, because the distribution of ``Γ`` is then ``G``-invariant
  and so is the per-coordinate variance.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from prodint.algebra.catalogue import from_structure_constants
from prodint.algebra.core import Algebra
from prodint.groups import Representation, equivariant_bilinear_basis

MODES = ("free", "regularized", "constrained")

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
        name: a short name shown in reports (default ``"Learned{n}"``).
        basis_names: one name per basis element (default ``e0 … e{n-1}``).
        init_std: standard deviation of the initial ``Γ`` entries (free, regularized) or ``θ``
            (constrained); default the variance-preserving ``1/n`` or ``sqrt(n/m)``.
        generator: random generator for the initialisation (CPU).

    Attributes:
        gamma: ``[n, n, n]`` parameter (free, regularized) or ``None``.
        theta: ``[m]`` parameter (constrained) or ``None``.
        basis: ``[m, n, n, n]`` buffer, the orthonormal equivariant structure constants in the
            ``Γ[a, b, c]`` layout, or ``None`` without a symmetry. Derived from ``symmetry``, so
            it is not saved in the state dict.

    Parameters are created in the default dtype; ``.to()``, ``.double()`` and ``.cuda()`` move
    and cast them with the basis.
    """

    gamma: nn.Parameter | None
    theta: nn.Parameter | None
    basis: Tensor | None

    def __init__(
        self,
        dim: int,
        *,
        symmetry: Representation | None = None,
        mode: str = "free",
        name: str | None = None,
        basis_names: Sequence[str] | None = None,
        init_std: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"dim: expected a positive int, received {dim!r}")
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {list(MODES)}, received {mode!r}")
        if symmetry is not None and not isinstance(symmetry, Representation):
            raise TypeError(
                f"symmetry: expected a prodint.groups.Representation or None, "
                f"received {type(symmetry).__name__}"
            )
        if symmetry is not None and symmetry.dim != dim:
            raise ValueError(
                f"symmetry: expected a representation of dimension {dim} (the algebra's), "
                f"received {symmetry.name} of dimension {symmetry.dim}"
            )
        if symmetry is None and mode != "free":
            raise ValueError(
                f"symmetry: mode {mode!r} needs a representation of dimension {dim}, "
                "received None"
            )
        if init_std is not None and not (
            isinstance(init_std, int | float) and not isinstance(init_std, bool)
            and math.isfinite(init_std) and init_std > 0
        ):
            raise ValueError(f"init_std: expected a positive finite float, received {init_std!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator: expected a torch.Generator or None, received "
                f"{type(generator).__name__}"
            )
        if basis_names is None:
            basis_names = [f"e{i}" for i in range(dim)]
        basis_names = [str(s) for s in basis_names]
        if len(basis_names) != dim:
            raise ValueError(f"basis_names: expected {dim} names, received {len(basis_names)}")

        self.dim = dim
        self.mode = mode
        self.symmetry = symmetry
        self.name = name if name is not None else f"Learned{dim}"
        self.basis_names: list[str] = basis_names
        dtype = torch.get_default_dtype()

        basis = self._exact_basis()
        self.register_buffer("basis", None if basis is None else basis.to(dtype), persistent=False)

        if mode == "constrained":
            assert basis is not None
            m = basis.shape[0]
            std = init_std if init_std is not None else math.sqrt(dim / max(m, 1))
            theta = torch.randn(m, generator=generator, dtype=dtype) * std
            self.theta = nn.Parameter(theta)
            self.register_parameter("gamma", None)
        else:
            std = init_std if init_std is not None else 1.0 / dim
            gamma = torch.randn(dim, dim, dim, generator=generator, dtype=dtype) * std
            self.gamma = nn.Parameter(gamma)
            self.register_parameter("theta", None)

    def _exact_basis(self) -> Tensor | None:
        """``[m, n, n, n]`` float64 orthonormal equivariant ``Γ`` basis, or ``None``."""
        if self.symmetry is None:
            return None
        # equivariant_bilinear_basis stores c[o, i, j] (output first); Γ puts the output last.
        return equivariant_bilinear_basis(self.symmetry).permute(0, 2, 3, 1).contiguous()

    def _apply(self, fn, recurse=True):  # type: ignore[override]
        super()._apply(fn, recurse)
        if self.basis is not None:
            # Rebuild from the float64 original rather than keep the cast: a basis that went
            # through float32 on its way to float64 would be equivariant only to ~1e-8.
            exact = self._exact_basis()
            assert exact is not None
            self.basis = exact.to(device=self.basis.device, dtype=self.basis.dtype)
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

        Free / regularized: the parameter ``gamma`` itself. Constrained: ``Σ_k θ_k B_k``,
        recomputed on every call so gradients reach ``theta``.
        """
        if self.gamma is not None:
            return self.gamma
        assert self.theta is not None
        n = self.dim
        return (self.theta @ self._flat_basis()).view(n, n, n)

    def _flat_basis(self) -> Tensor:
        """``[m, n³]`` view of the basis (explicit sizes, so ``m = 0`` works too)."""
        assert self.basis is not None
        return self.basis.reshape(self.basis.shape[0], self.dim**3)

    def symmetry_penalty(self) -> Tensor:
        """``||Γ - P_G Γ||²``, the squared Frobenius distance to the equivariant subspace.

        ``P_G Γ = Σ_k <Γ, B_k> B_k``. A differentiable scalar in the parameters' dtype: zero up
        to rounding exactly when ``Γ`` is equivariant. Its gradient is ``2 (Γ - P_G Γ)``.
        Constrained mode returns a zero tensor (``Γ`` is equivariant by construction).

        Raises:
            ValueError: in free mode without a ``symmetry``.
        """
        if self.mode == "constrained":
            return torch.zeros((), dtype=self.dtype, device=self.device)
        if self.basis is None:
            raise ValueError(
                f"symmetry_penalty: {self.name} has no symmetry; construct it with "
                "symmetry=<Representation> to measure its distance to the equivariant products"
            )
        flat = self.structure_constants.reshape(-1)
        b = self._flat_basis()
        # The residual is formed explicitly instead of ||Γ||² - Σ<Γ,B_k>², which would cancel
        # catastrophically and lose the "exactly zero on the subspace" guarantee.
        residual = flat - (b @ flat) @ b
        return (residual * residual).sum()

    @torch.no_grad()
    def project_(self) -> LearnedAlgebra:
        """Replace ``gamma`` in place by its equivariant part ``P_G Γ``; returns ``self``.

        A no-op in constrained mode. Raises ``ValueError`` without a symmetry.
        """
        if self.gamma is None:
            return self
        if self.basis is None:
            raise ValueError(f"project_: {self.name} has no symmetry to project onto")
        b = self._flat_basis()
        flat = self.gamma.reshape(-1)
        self.gamma.copy_(((b @ flat) @ b).view_as(self.gamma))
        return self

    def is_equivariant(self, atol: float | None = None) -> bool:
        """Whether ``Γ(ρ(g) x, ρ(g) y) = ρ(g) Γ(x, y)`` for all ``g``, checked on generators.

        For a finite group the identity on a generating set implies it for every element; for
        a Lie group its derivative ``Γ(X x, y) + Γ(x, X y) = X Γ(x, y)`` on each Lie-algebra
        generator ``X`` is equivalent (the group is connected). Computed in float64 with
        residual ``<= atol · max(1, max|Γ|)``; default ``atol`` 1e-9 for float64 parameters,
        1e-5 for float32, 1e-2 otherwise.

        Raises:
            ValueError: without a ``symmetry``.
        """
        if self.symmetry is None:
            raise ValueError(f"is_equivariant: {self.name} has no symmetry to check against")
        if atol is None:
            atol = _EQUIVARIANCE_ATOL.get(self.dtype, 1e-2)
        g = self.structure_constants.detach().to(torch.float64)
        r = self.symmetry.generators.to(g.device)  # [k, n, n]
        if r.shape[0] == 0:
            return True
        if self.symmetry.is_lie:
            lhs = torch.einsum("abc,kai->kibc", g, r) + torch.einsum("abc,kbj->kajc", g, r)
        else:
            lhs = torch.einsum("abc,kai,kbj->kijc", g, r, r)
        rhs = torch.einsum("kcd,ijd->kijc", r, g)
        scale = max(1.0, float(g.abs().max()))
        return float((lhs - rhs).abs().max()) <= atol * scale

    # ------------------------------------------------------------------ product
    def check_element(self, x: Tensor, argument: str) -> None:
        """Raise a clear error unless ``x`` is a ``[..., n]`` tensor of the algebra's dtype."""
        # Algebra.check_element reads only dim, name and dtype, which this module defines with
        # the same meaning, so both classes reject bad inputs with identical messages.
        Algebra.check_element(cast(Algebra, self), x, argument)

    def mul(self, x: Tensor, y: Tensor) -> Tensor:
        """The product ``(x · y)_c = Σ_{a,b} Γ[a, b, c] x_a y_b``, differentiable in ``Γ``.

        Args:
            x: ``[..., n]`` tensor; the last dimension is the algebra coordinate.
            y: ``[..., n]`` tensor; leading dimensions broadcast with ``x`` like torch.

        Returns:
            ``[broadcast(...), n]`` tensor in the algebra's dtype.
        """
        self.check_element(x, "x")
        self.check_element(y, "y")
        n = self.dim
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
        return f"name={self.name}, dim={self.dim}, mode={self.mode}, symmetry={sym}, params={size}"
