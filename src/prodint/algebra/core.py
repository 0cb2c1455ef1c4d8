"""The algebra: R^n with a bilinear product given by structure constants.

An algebra ``A`` is ``R^n`` with ``e_a · e_b = Σ_c Γ[a, b, c] e_c``, so for coordinates
``x, y ∈ R^n`` the product is ``(x · y)_c = Σ_{a,b} Γ[a, b, c] x_a y_b``.

Most useful ``Γ`` are very sparse, so an :class:`Algebra` stores the support of ``Γ`` as
triples ``(a, b, c)`` with values ``Γ[a, b, c]`` and derives the dense ``[n, n, n]`` tensor only
when asked. The triples are what parametric spans and sparse-matrix lowerings are built from.

The algebra is a :class:`torch.nn.Module`: its values are a floating buffer, so ``.to()``,
``.double()``, ``.float()`` and ``.cuda()`` move and cast it like any module, and an algebra
held by a layer follows the layer. A cast to a dtype the kernel does not compute in (``fft``
in half precision) switches to the cheapest kernel that does; an automatic choice is made
again after every cast, a forced kernel is restored when it applies again.

Arguments are checked at construction (:mod:`prodint.checks`): the triples' indices against
the dimension, the memory the triples need before they are sorted, every hint against the
structure constants (a false hint would select a kernel that computes another product).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from prodint.algebra import kernels
from prodint.algebra.arguments import (
    ALGEBRA_DTYPES,
    broadcast_batch,
    check_basis_names,
    check_element,
    check_label,
    check_workspace,
)
from prodint.algebra.hints import KernelHints, hint_failure
from prodint.algebra.triples import coalesce
from prodint.checks import (
    check_choice,
    check_dtype,
    check_float,
    check_instance,
    check_int,
    check_memory,
)


class Algebra(nn.Module):
    """A finite-dimensional real algebra given by sparse structure constants.

    Args:
        triples: ``[nnz, 3]`` integer tensor of index triples ``(a, b, c)``, each in ``[0, dim)``.
        values: ``[nnz]`` real tensor, ``values[k] = Γ[triples[k]]``. Duplicate triples add up.
        dim: the dimension ``n`` of the algebra.
        basis_names: one name per basis element (default ``e0 … e{n-1}``).
        name: a short name shown in reports (default ``"A{n}"``).
        hints: structure the fast kernels can use (abelian group, matrix algebra, Hadamard);
            set by the catalogue constructors, which know what they built, and verified
            against the structure constants.
        kernel: ``"auto"`` (chosen once by :func:`prodint.algebra.kernels.choose_kernel`) or the
            name of an applicable kernel to force.

    Raises:
        TypeError: an argument of the wrong kind (float triples, complex or bool values, a
            non-str name, hints that are not :class:`KernelHints`).
        ValueError: a bad value: ``dim < 1``, triples out of ``[0, dim)``, a shape mismatch,
            non-finite values, tensors on two devices, a hint that does not hold, a kernel
            that does not apply, an algebra too large for the memory budget.

    Attributes:
        triples: ``[nnz, 3]`` long buffer, coalesced and sorted by ``(c, a, b)``.
        values: ``[nnz]`` floating buffer.
    """

    triples: Tensor
    values: Tensor

    def __init__(
        self,
        triples: Tensor,
        values: Tensor,
        dim: int,
        *,
        basis_names: Sequence[str] | None = None,
        name: str | None = None,
        hints: KernelHints | None = None,
        kernel: str = "auto",
    ) -> None:
        super().__init__()
        dim = check_int(dim, "dim", minimum=1)
        name = check_label(name, "name")
        if basis_names is not None:
            basis_names = check_basis_names(basis_names, dim)
        check_instance(hints, "hints", KernelHints, optional=True)
        check_choice(kernel, "kernel", ["auto", *kernels.KERNELS])
        triples, values = coalesce(triples, values, dim, names=basis_names is None)
        self.dim = dim
        self.name = name if name is not None else f"A{dim}"
        self.basis_names: list[str] = (
            basis_names if basis_names is not None else [f"e{i}" for i in range(dim)])
        self.hints = hints if hints is not None else KernelHints()
        problem = hint_failure(triples, values, dim, self.hints)
        if problem is not None:
            raise ValueError(f"hints: expected hints that hold for the structure constants, "
                             f"received {problem}")
        self.register_buffer("triples", triples, persistent=False)
        self.register_buffer("values", values, persistent=False)
        self._applicable = kernels.applicable_kernels(self)
        self._requested = kernel  # "auto" or a forced kernel, kept across casts
        self.kernel = kernels.choose_kernel(self) if kernel == "auto" else kernel
        kernels.check_applicable(self, self.kernel, argument="kernel")
        self._dense_cache: Tensor | None = None

    # ------------------------------------------------------------------ structure
    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the structure constants (and of accepted inputs)."""
        return self.values.dtype

    @property
    def device(self) -> torch.device:
        """Device holding the structure constants."""
        return self.values.device

    @property
    def nnz(self) -> int:
        """Number of nonzero structure constants (the size of the span's index set)."""
        return int(self.values.shape[0])

    @property
    def structure_constants(self) -> Tensor:
        """Dense ``[n, n, n]`` tensor ``Γ`` with ``e_a e_b = Σ_c Γ[a, b, c] e_c``.

        Built from the triples on every call (cheap for small ``n``; the dense kernel keeps its
        own copy). Mutating the result does not change the algebra.

        Raises:
            ValueError: the ``n³`` entries do not fit in :func:`prodint.checks.memory_limit`
                (the message gives the estimate).
        """
        n = self.dim
        check_memory(kernels.dense_bytes(self), "structure_constants",
                     f"dense [n, n, n] tensor (n = {n})")
        dense = torch.zeros(n * n * n, dtype=self.dtype, device=self.device)
        a, b, c = self.triples.unbind(-1)
        dense.index_add_(0, (a * n + b) * n + c, self.values)
        return dense.view(n, n, n)

    def _apply(self, fn, recurse=True):  # type: ignore[override]
        # The dense copy is derived data: drop it so it is rebuilt in the new dtype/device.
        self._dense_cache = None
        out = super()._apply(fn, recurse)
        self._applicable = kernels.applicable_kernels(self)
        requested = self._requested
        self.kernel = requested if requested in self._applicable else kernels.choose_kernel(self)
        return out

    def dense_structure_constants(self) -> Tensor:
        """Cached dense ``Γ`` used by the dense kernel (rebuilt after ``.to()``)."""
        if self._dense_cache is None:
            self._dense_cache = self.structure_constants
        return self._dense_cache

    # ------------------------------------------------------------------ product
    def mul(self, x: Tensor, y: Tensor, *, kernel: str | None = None) -> Tensor:
        """The algebra product ``(x · y)_c = Σ_{a,b} Γ[a, b, c] x_a y_b``.

        Args:
            x: ``[..., n]`` tensor; the last dimension is the algebra coordinate.
            y: ``[..., n]`` tensor; leading dimensions broadcast with ``x`` like torch.
            kernel: force a kernel (``dense``, ``sparse``, ``fft``, ``matmul``,
                ``elementwise``); default the one chosen at construction.

        Returns:
            ``[broadcast(...), n]`` tensor in the algebra's dtype (an empty batch gives an
            empty result).

        Raises:
            TypeError: an operand that is not a tensor of the algebra's dtype.
            ValueError: an operand whose last dimension is not ``n``, on another device than
                the algebra, leading dimensions that do not broadcast, a kernel that does not
                apply, a batch whose workspace does not fit in the memory budget.
        """
        self.check_element(x, "x")
        self.check_element(y, "y")
        batch = broadcast_batch(x, y)
        name = self.kernel if kernel is None else kernels.check_applicable(
            self, kernel, argument="kernel")
        if batch.numel() == 0:  # no product to compute (and torch's FFTs refuse empty input)
            return x * y
        check_workspace(kernels.workspace_bytes(self, name, batch.numel()), "x, y",
                        f"{name} kernel's workspace for {batch.numel():,} products")
        return kernels.KERNELS[name](self, x, y)

    def product_kernel(self) -> Callable[[Tensor, Tensor], Tensor]:
        """The chosen kernel as ``f(x, y)``, without :meth:`mul`'s input checks.

        For compiled code that has validated its inputs once: shapes ``[..., n]`` of the
        algebra's dtype are the caller's responsibility.
        """
        fn = kernels.KERNELS[self.kernel]
        return lambda x, y: fn(self, x, y)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Same as :meth:`mul` with the chosen kernel."""
        return self.mul(x, y)

    def check_element(self, x: Tensor, argument: str) -> None:
        """Raise a clear error unless ``x`` is a ``[..., n]`` tensor of the algebra's dtype on
        its device (a ``TypeError`` for the kind or dtype, a ``ValueError`` for the shape or
        device; ``argument`` names ``x`` in the message)."""
        check_element(x, argument, dim=self.dim, name=self.name, dtype=self.dtype,
                      device=self.device)

    def basis(self) -> Tensor:
        """``[n, n]`` identity: row ``a`` is the coordinate vector of ``e_a`` (a ``ValueError``
        when it does not fit in the memory budget)."""
        check_workspace(self.dim**2 * self.values.element_size(), "basis",
                        f"identity [n, n] (n = {self.dim})")
        return torch.eye(self.dim, dtype=self.dtype, device=self.device)

    def left_multiplication(self, x: Tensor) -> Tensor:
        """Matrix of ``y ↦ x · y``: ``[..., n, n]`` with ``M[..., c, b] = Σ_a Γ[a,b,c] x_a``."""
        self.check_element(x, "x")
        e = self.basis()
        return self.mul(x.unsqueeze(-2), e).transpose(-1, -2)

    def right_multiplication(self, y: Tensor) -> Tensor:
        """Matrix of ``x ↦ x · y``: ``[..., n, n]`` with ``M[..., c, a] = Σ_b Γ[a,b,c] y_b``."""
        self.check_element(y, "y")
        e = self.basis()
        return self.mul(e, y.unsqueeze(-2)).transpose(-1, -2)

    # ------------------------------------------------------------------ identities
    def unit(self, *, atol: float = 1e-9) -> Tensor | None:
        """The two-sided unit ``u`` (``u·x = x·u = x`` for all ``x``), or ``None``.

        A candidate is solved from ``u·x = x`` and ``x·u = x`` for two random ``x`` by least
        squares in float64, then verified on every basis element, so a returned unit is exact up
        to ``atol``. Entries within 1e-12 of an integer are rounded to it.

        Raises:
            ValueError: ``atol`` is negative, NaN or infinite (``TypeError``: not a number).
        """
        atol = check_float(atol, "atol", minimum=0)
        gen = torch.Generator().manual_seed(0)
        f64 = self.to_dtype(torch.float64)
        xs = torch.randn(2, self.dim, generator=gen, dtype=torch.float64).to(self.device)
        # u·x = Σ_a u_a (e_a·x): columns are e_a·x; same for x·u.
        left = f64.mul(f64.basis().unsqueeze(0), xs.unsqueeze(1)).transpose(1, 2)
        right = f64.mul(xs.unsqueeze(1), f64.basis().unsqueeze(0)).transpose(1, 2)
        system = torch.cat([left, right], 0).reshape(-1, self.dim)
        target = torch.cat([xs, xs], 0).reshape(-1, 1)
        u = torch.linalg.lstsq(system.cpu(), target.cpu()).solution.squeeze(-1).to(self.device)
        e = f64.basis()
        ok = torch.allclose(f64.mul(u, e), e, atol=atol) and torch.allclose(
            f64.mul(e, u), e, atol=atol
        )
        if not ok:
            return None
        # Units of structured algebras are integer-valued: snap the least-squares rounding.
        snapped = torch.where((u - u.round()).abs() < 1e-12, u.round(), u)
        return snapped.to(self.dtype)

    def is_commutative(self) -> bool:
        """Exact check ``Γ[a, b, c] == Γ[b, a, c]`` on the sparse triples."""
        swapped = self.triples[:, [1, 0, 2]]
        t2, v2 = coalesce(swapped, self.values, self.dim)
        return bool(
            torch.equal(t2, self.triples) and torch.allclose(v2, self.values, rtol=0, atol=0)
        )

    def is_associative(self, *, atol: float = 1e-9) -> bool:
        """Whether ``(x·y)·z == x·(y·z)`` for all ``x, y, z``.

        Exact on the basis (all ``n³`` triples of basis elements, in float64) for ``n ≤ 32``;
        above that, checked on 8 random float64 triples: the associator is a polynomial in the
        inputs, so it vanishes on random inputs only if it vanishes identically (up to
        rounding, hence the relative tolerance).

        Raises:
            ValueError: ``atol`` is negative, NaN or infinite (``TypeError``: not a number).
        """
        return self._identity_holds(_associator, check_float(atol, "atol", minimum=0))

    def is_alternative(self, *, atol: float = 1e-9) -> bool:
        """Whether ``x·(x·y) == (x·x)·y`` and ``(y·x)·x == y·(x·x)`` (true for octonions).

        Raises:
            ValueError: ``atol`` is negative, NaN or infinite (``TypeError``: not a number).
        """
        atol = check_float(atol, "atol", minimum=0)

        def alternator(alg: Algebra, x: Tensor, y: Tensor, z: Tensor) -> Tensor:
            del z
            left = alg.mul(x, alg.mul(x, y)) - alg.mul(alg.mul(x, x), y)
            right = alg.mul(alg.mul(y, x), x) - alg.mul(y, alg.mul(x, x))
            return torch.cat([left, right], -1)

        return self._identity_holds(alternator, atol)

    def _identity_holds(self, identity, atol: float) -> bool:
        f64 = self.to_dtype(torch.float64)
        n = self.dim
        if n <= 32:
            e = f64.basis()
            x = e.view(n, 1, 1, n)
            y = e.view(1, n, 1, n)
            z = e.view(1, 1, n, n)
            x, y, z = torch.broadcast_tensors(x, y, z)
            scale = 1.0 + f64.values.abs().max().item() ** 2
            return bool(identity(f64, x, y, z).abs().max().item() <= atol * scale)
        gen = torch.Generator().manual_seed(1)
        x, y, z = torch.randn(3, 8, n, generator=gen, dtype=torch.float64).to(self.device)
        residual = identity(f64, x, y, z)
        scale = (f64.mul(f64.mul(x, y), z).abs().max().item() + 1.0)
        return bool(residual.abs().max().item() <= atol * scale)

    def to_dtype(self, dtype: torch.dtype) -> Algebra:
        """A copy of this algebra in ``dtype`` (the original is left unchanged); a kernel that
        does not compute in ``dtype`` is replaced by the cheapest one that does.

        Raises:
            TypeError: ``dtype`` is not a floating dtype (float16, bfloat16, float32, float64).
        """
        dtype = check_dtype(dtype, "dtype", dtypes=ALGEBRA_DTYPES, optional=False)
        if dtype == self.dtype:
            return self
        requested = self._requested
        keep = requested != "auto" and dtype in kernels.KERNEL_DTYPES[requested]
        return Algebra(
            self.triples,
            self.values.to(dtype),
            self.dim,
            basis_names=self.basis_names,
            name=self.name,
            hints=self.hints,
            kernel=requested if keep else "auto",
        )

    def with_kernel(self, kernel: str) -> Algebra:
        """A copy of this algebra that always uses ``kernel``.

        Raises:
            ValueError: ``kernel`` does not apply to this algebra (or is no kernel).
        """
        kernels.check_applicable(self, kernel, argument="kernel")
        return Algebra(
            self.triples,
            self.values,
            self.dim,
            basis_names=self.basis_names,
            name=self.name,
            hints=self.hints,
            kernel=kernel,
        )

    def available_kernels(self) -> list[str]:
        """Names of the kernels that compute this algebra's product (in its dtype)."""
        return list(self._applicable)

    def extra_repr(self) -> str:
        return f"name={self.name}, dim={self.dim}, nnz={self.nnz}, kernel={self.kernel}"


def _associator(alg: Algebra, x: Tensor, y: Tensor, z: Tensor) -> Tensor:
    return alg.mul(alg.mul(x, y), z) - alg.mul(x, alg.mul(y, z))
