"""The HyperCube factorization, its objective and the regularizer ``H``.

A binary operation on ``n`` symbols is the 0/1 tensor ``δ[a, b, c] = 1`` iff ``a∘b = c``.
HyperCube models it with three stacks of ``n × n`` matrices ``A, B, C`` (each ``[n, n, n]``,
the leading index the symbol)::

    T[a, b, c] = tr(A_a B_b C_c) / n.

The objective on the observed cells ``Ω`` (pairs ``(a, b)`` with target rows ``Y[a, b, :]``,
one-hot for a table) is the summed squared error plus ``ε`` times ``H``::

    L = Σ_{(a,b)∈Ω} Σ_c (T[a, b, c] − Y[a, b, c])²
    H = Σ_{a,b} ‖A_a B_b‖² + Σ_{b,c} ‖B_b C_c‖² + Σ_{c,a} ‖C_c A_a‖²,   ‖X‖² = tr(XᵀX)/n.

Fast forms (the naive ones are kept as references for the tests and the benchmark):

- ``H`` without pairwise products: with the Gram sums ``Lᴬ = Σ_a A_aᵀA_a`` and
  ``Rᴬ = Σ_a A_a A_aᵀ`` (likewise for ``B, C``),
  ``H = [tr(Lᴬ Rᴮ) + tr(Lᴮ Rᶜ) + tr(Lᶜ Rᴬ)] / n`` and
  ``∂H/∂A_a = 2 (A_a Rᴮ + Lᶜ A_a) / n`` (cyclically for ``B, C``): O(n⁴).
- ``L`` only on the observed pairs: ``P_p = A_{a_p} B_{b_p}`` for each observed pair ``p``,
  then ``T[p, c] = ⟨P_p, C_cᵀ⟩ / n`` as one ``[m, n²] × [n², n]`` product. The gradient is
  derived by hand: with ``G = 2 (T − Y)`` on observed rows, ``∂L/∂P_p = Σ_c G[p, c] C_cᵀ / n``,
  ``∂L/∂C_c = Σ_p G[p, c] P_pᵀ / n``, ``∂L/∂A_a = Σ_{p: a_p = a} ∂P_p B_{b_p}ᵀ`` and
  ``∂L/∂B_b = Σ_{p: b_p = b} A_{a_p}ᵀ ∂P_p``. Pairs are sorted by ``b`` and cut into blocks
  of 16 (:class:`Pairs`), so the products with ``B_b`` are one batched product over blocks of
  stacked ``A_{a_p}`` (``[16 n, n] × [n, n]``), and every other product is one large matrix
  product: six calls of ``2 m n³`` FLOPs each per step (``m`` observed pairs), against
  ``12 n⁵`` for the full table. (One call per ``b`` instead was up to 10x slower on a busy
  2-core machine: each call's threads wait on each other.)

Two backends run these six products (:func:`loss_and_grad`, ``backend=``): ``"torch"`` makes
each one call over all pairs as above, on any device; ``"blas"``
(:mod:`prodint.hypercube.blas_step`, the default on the CPU) runs all six per chunk of
pairs, on one single-threaded BLAS stream per core.

At the regular representation of a group (``A_g = B_g = ρ(g)``, ``C_g = ρ(g)ᵀ``, ``ρ`` the
permutation matrices of left multiplication) ``T = δ`` and ``H = 3n²`` exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from prodint.checks import check_dtype, check_int, check_tensor
from prodint.hypercube.arguments import check_factors_memory, check_same_kind
from prodint.hypercube.blas_step import (
    BlasWorkspace,
    loss_and_grad_blas,
    objective_and_grad_blas,
)
from prodint.hypercube.tables import check_table, is_group_table

#: The dtypes factors may hold (the ``"blas"`` step takes float32 and float64 only).
FACTOR_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass
class Factors:
    """The three stacks of the factorization, each ``[n, n, n]`` (symbol, row, column).

    Raises:
        TypeError: a stack is not a tensor of a dtype of :data:`FACTOR_DTYPES`, or ``B``/``C``
            have another dtype than ``A``.
        ValueError: ``A`` is not ``[n, n, n]`` with ``n >= 1``, or ``B``/``C`` have another
            shape or device than ``A``.
    """

    A: Tensor
    B: Tensor
    C: Tensor

    def __post_init__(self) -> None:
        A = check_tensor(self.A, "A", rank=3, layout="[n, n, n]", dtypes=FACTOR_DTYPES)
        n = int(A.shape[0])
        if n < 1 or tuple(A.shape) != (n, n, n):
            raise ValueError(f"A: expected shape [n, n, n] with n >= 1, received "
                             f"{tuple(A.shape)}")
        for name in ("B", "C"):
            value = check_tensor(getattr(self, name), name, rank=3, layout="[n, n, n]",
                                 dtypes=FACTOR_DTYPES)
            check_same_kind(value, name, A, "A")

    @property
    def n(self) -> int:
        """The number of symbols (also the size of each matrix)."""
        return int(self.A.shape[0])

    def tensors(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(A, B, C)``."""
        return self.A, self.B, self.C


def init_factors(n: int, generator: torch.Generator, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu") -> Factors:
    """The reference initialization: i.i.d. ``N(0, 1/n)`` entries (``randn / √n``)."""
    check_int(n, "n", minimum=1)
    check_factors_memory(n, torch.empty(0, dtype=dtype).element_size(), "n", copies=3)
    stacks = [torch.randn(n, n, n, generator=generator, dtype=dtype) / math.sqrt(n)
              for _ in range(3)]
    return Factors(*(x.to(device) for x in stacks))


def regular_representation(table: Tensor, dtype: torch.dtype = torch.float64) -> Factors:
    """The regular representation of a group table: ``A_g = B_g = ρ(g)``, ``C_g = ρ(g)ᵀ``.

    ``ρ(g)[g∘x, x] = 1`` (left multiplication), so ``tr(ρ(a) ρ(b) ρ(c)ᵀ) = n·[a∘b = c]`` and
    ``T = δ`` exactly.

    Args:
        table: a group's ``[n, n]`` table (checked by
            :func:`~prodint.hypercube.tables.check_table`, then for the group axioms).
        dtype: one of :data:`FACTOR_DTYPES`.

    Raises:
        TypeError: ``table`` is not a table of integer symbols; ``dtype`` is not one of
            :data:`FACTOR_DTYPES`.
        ValueError: ``table`` is malformed or not a group's (not a Latin square, or not
            associative), or the stacks would not fit the memory budget.
    """
    table = check_table(table)
    check_dtype(dtype, "dtype", dtypes=FACTOR_DTYPES, optional=False)
    n = int(table.shape[0])
    check_factors_memory(n, torch.empty(0, dtype=dtype).element_size(), "table", copies=4)
    if not is_group_table(table):
        raise ValueError("table: expected the table of a group (a Latin square whose operation "
                         "is associative), received one that is not")
    rho = torch.zeros(n, n, n, dtype=dtype)
    g = torch.arange(n)[:, None].expand(n, n)
    x = torch.arange(n)[None, :].expand(n, n)
    rho[g, table, x] = 1
    return Factors(rho.clone(), rho.clone(), rho.transpose(1, 2).contiguous())


def one_hot_target(table: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """``δ[a, b, c] = [table[a, b] = c]`` as a ``[n, n, n]`` float tensor."""
    n = int(table.shape[0])
    return torch.nn.functional.one_hot(table, n).to(dtype)


# ---------------------------------------------------------------- naive references
def full_tensor(factors: Factors) -> Tensor:
    """``T[a, b, c] = tr(A_a B_b C_c)/n`` over all ``n³`` cells (plain einsum, O(n⁵))."""
    A, B, C = factors.tensors()
    return torch.einsum("aij,bjk,cki->abc", A, B, C) / factors.n


def h_pairwise(factors: Factors) -> Tensor:
    """``H`` from the pairwise products ``A_aB_b``, ``B_bC_c``, ``C_cA_a`` (O(n⁵))."""
    A, B, C = factors.tensors()
    total = A.new_zeros(())
    for X, Y in ((A, B), (B, C), (C, A)):
        total = total + torch.einsum("xij,yjk->xyik", X, Y).square().sum()
    return total / factors.n


def objective_reference(factors: Factors, target: Tensor, mask: Tensor,
                        eps: float) -> Tensor:
    """``L + εH`` from the full table and the pairwise ``H`` (the naive reference).

    Args:
        target: ``[n, n, n]`` target ``Y``.
        mask: ``[n, n]`` bool, the observed pairs ``Ω``.
    """
    T = full_tensor(factors)
    loss = ((T - target).square() * mask[:, :, None]).sum()
    return loss + eps * h_pairwise(factors) if eps else loss


# ---------------------------------------------------------------- fast forms
def gram_sums(factors: Factors) -> tuple[Tensor, ...]:
    """``(Lᴬ, Rᴬ, Lᴮ, Rᴮ, Lᶜ, Rᶜ)``, ``Lˣ = Σ X_xᵀX_x`` and ``Rˣ = Σ X_x X_xᵀ`` (each [n, n])."""
    out: list[Tensor] = []
    for X in (x.detach() for x in factors.tensors()):
        flat_cols = X.reshape(-1, X.shape[-1])  # [(x, i), j]
        flat_rows = X.transpose(0, 1).reshape(X.shape[1], -1)  # [i, (x, j)]
        out += [flat_cols.T @ flat_cols, flat_rows @ flat_rows.T]
    return tuple(out)


def h_value(factors: Factors, grams: tuple[Tensor, ...] | None = None) -> Tensor:
    """``H = [tr(Lᴬ Rᴮ) + tr(Lᴮ Rᶜ) + tr(Lᶜ Rᴬ)] / n`` (O(n⁴))."""
    LA, RA, LB, RB, LC, RC = grams if grams is not None else gram_sums(factors)
    return ((LA * RB).sum() + (LB * RC).sum() + (LC * RA).sum()) / factors.n


def h_value_and_grad(factors: Factors, grams: tuple[Tensor, ...] | None = None,
                     ) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
    """``H`` and ``(∂H/∂A, ∂H/∂B, ∂H/∂C)`` with ``∂H/∂A_a = 2 (A_a Rᴮ + Lᶜ A_a)/n``."""
    grams = grams if grams is not None else gram_sums(factors)
    LA, RA, LB, RB, LC, RC = grams
    A, B, C = (x.detach() for x in factors.tensors())
    s = 2.0 / factors.n
    grads = (s * (A @ RB + LC @ A), s * (B @ RC + LA @ B), s * (C @ RA + LB @ C))
    return h_value(factors, grams), grads


def imbalance(grams: tuple[Tensor, ...]) -> float:
    """``max ‖Lˣ − Rʸ‖_F / ‖Lˣ‖_F`` over the contracted index pairs (A,B), (B,C), (C,A).

    The gauge ``A_a → A_a V``, ``B_b → V⁻¹ B_b`` leaves ``T`` unchanged; ``Lᴬ = Rᴮ`` (and
    cyclically) is the balanced gauge, where the minimizers of ``H`` lie.
    """
    LA, RA, LB, RB, LC, RC = grams
    return max(float((x - y).norm() / x.norm().clamp_min(1e-30))
               for x, y in ((LA, RB), (LB, RC), (LC, RA)))


@dataclass
class Pairs:
    """Observed cells grouped by ``b`` into blocks of ``block`` pairs, with targets.

    The pairs with the same ``b`` are cut into blocks of at most ``block`` pairs; a short block
    is padded with pairs of weight 0. The products with ``B_b`` are then one batched matrix
    product over blocks, ``[s n, n] × [n, n]`` each, instead of one call per ``b``.

    Attributes:
        a, b: ``[m]`` long, the observed pairs, sorted by ``(b, a)``.
        target: ``[m, n]`` target rows ``Y[a_p, b_p, :]``.
        slot_a: ``[nb · s]`` long, ``a`` of every slot (0 in padding).
        block_b: ``[nb]`` long, the ``b`` of every block.
        slot_target: ``[nb · s, n]`` targets per slot (0 in padding).
        slot_weight: ``[nb · s, 1]`` 1 for a pair, 0 for padding.
        valid: ``[m]`` long, the slot of every pair.
    """

    a: Tensor
    b: Tensor
    target: Tensor
    slot_a: Tensor
    block_b: Tensor
    slot_target: Tensor
    slot_weight: Tensor
    valid: Tensor

    @classmethod
    def from_mask(cls, mask: Tensor, target: Tensor, block: int = 16) -> Pairs:
        """Pairs from a ``[n, n]`` bool mask and a ``[n, n, n]`` target tensor."""
        n = int(mask.shape[0])
        dev = target.device
        b, a = (x.cpu() for x in mask.T.nonzero(as_tuple=True))  # sorted by b, then a
        counts = torch.bincount(b, minlength=n)
        blocks = (counts + block - 1) // block
        block_b = torch.repeat_interleave(torch.arange(n), blocks)
        first_block = torch.cumsum(blocks, 0) - blocks
        rank = torch.arange(len(b)) - (torch.cumsum(counts, 0) - counts)[b]
        valid = (first_block[b] + rank // block) * block + rank % block
        slots = int(blocks.sum()) * block
        slot_a = torch.zeros(slots, dtype=torch.long)
        slot_a[valid] = a
        slot_target = target.new_zeros(slots, n)
        slot_target[valid.to(dev)] = target[a.to(dev), b.to(dev)]
        slot_weight = target.new_zeros(slots, 1)
        slot_weight[valid.to(dev)] = 1
        return cls(a.to(dev), b.to(dev), target[a.to(dev), b.to(dev)].contiguous(),
                   slot_a.to(dev), block_b.to(dev), slot_target, slot_weight, valid.to(dev))

    @property
    def m(self) -> int:
        """The number of observed pairs."""
        return int(self.a.shape[0])

    @property
    def blocks(self) -> int:
        """The number of blocks."""
        return int(self.block_b.shape[0])


class Workspace:
    """Reusable buffers for :func:`loss_and_grad` (no per-step allocation of the products).

    ``stacked``/``products`` serve the ``"torch"`` backend, ``blas`` the ``"blas"`` one (set
    ``blas.workers`` to choose its number of parallel parts).
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self.stacked = torch.empty(0)
        self.products = torch.empty(0)
        self.blas = BlasWorkspace()

    def buffers(self, slots: int, n: int, like: Tensor) -> tuple[Tensor, Tensor]:
        """Two ``[slots, n, n]`` buffers of ``like``'s dtype and device."""
        key = (slots, n, like.dtype, like.device)
        if key != self._key:
            self.stacked = like.new_empty(slots, n, n)
            self.products = like.new_empty(slots, n, n)
            self._key = key
        return self.stacked, self.products


BACKENDS = ("auto", "torch", "blas")


def loss_and_grad(factors: Factors, pairs: Pairs, workspace: Workspace | None = None,
                  backend: str = "auto",
                  ) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor, Tensor]]:
    """``L`` on the observed pairs, the predictions ``T[p, :]`` and ``(∂L/∂A, ∂L/∂B, ∂L/∂C)``.

    See the module docstring for the derivation. Returns ``(loss, logits [m, n], grads)``
    (logits in the order of ``pairs.a, pairs.b``); no autograd graph is built.

    Args:
        backend: ``"torch"`` runs every product as one call over all pairs (a batched matrix
            product over blocks or one large matrix product), on any device; ``"blas"`` runs
            chunks of pairs on parallel single-threaded BLAS workers, CPU only
            (:mod:`prodint.hypercube.blas_step`); ``"auto"`` picks ``"blas"`` for float32 and
            float64 factors on the CPU and ``"torch"`` otherwise.
    """
    ws = workspace if workspace is not None else Workspace()
    if _uses_blas(factors, backend):
        return loss_and_grad_blas(*factors.tensors(), pairs.a, pairs.b, pairs.target, ws.blas)
    return _loss_and_grad_torch(factors, pairs, ws)


def _uses_blas(factors: Factors, backend: str) -> bool:
    """Whether ``backend`` runs on the BLAS workers (``"auto"``: float32/float64 on the
    CPU); a ``"blas"`` request for factors it cannot take is refused."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, received {backend!r}")
    blas_ok = factors.A.device.type == "cpu" and factors.A.dtype in (torch.float32,
                                                                      torch.float64)
    if backend == "blas" and not blas_ok:
        raise ValueError(f"backend: 'blas' needs float32 or float64 factors on the CPU, "
                         f"received {factors.A.dtype} on {factors.A.device}")
    return backend == "blas" or (backend == "auto" and blas_ok)


def objective_and_grad(factors: Factors, pairs: Pairs, eps: float,
                       workspace: Workspace | None = None, backend: str = "auto",
                       ) -> tuple[Tensor, Tensor, Tensor, tuple[Tensor, Tensor, Tensor],
                                  tuple[Tensor, ...]]:
    """One training step's quantities: ``(L, H, logits [m, n], ∇(L + εH), grams)``.

    On the ``"blas"`` backend (``"auto"`` on the CPU in float32/float64) ``H``, its gradient
    and the Gram sums run inside the same parallel call as ``L``
    (:func:`~prodint.hypercube.blas_step.objective_and_grad_blas`); on ``"torch"`` they are
    :func:`loss_and_grad` plus :func:`gram_sums` and ``ε`` times :func:`h_value_and_grad`.
    Both give the same numbers (to rounding).
    """
    ws = workspace if workspace is not None else Workspace()
    if _uses_blas(factors, backend):
        out = objective_and_grad_blas(*factors.tensors(), pairs.a, pairs.b, pairs.target,
                                      eps, ws.blas)
        return out.loss, out.h, out.logits, out.grads, out.grams
    loss, logits, grads = loss_and_grad(factors, pairs, ws, backend=backend)
    grams = gram_sums(factors)
    h, h_grads = h_value_and_grad(factors, grams)
    if eps:
        grads = tuple(g.add_(hg, alpha=eps) for g, hg in zip(grads, h_grads, strict=True))
    return loss, h, logits, grads, grams  # type: ignore[return-value]


def _loss_and_grad_torch(factors: Factors, pairs: Pairs, ws: Workspace,
                         ) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor, Tensor]]:
    A, B, C = (x.detach() for x in factors.tensors())
    n = factors.n
    slots = int(pairs.slot_a.shape[0])
    nb = pairs.blocks
    stacked, products = ws.buffers(slots, n, A)
    torch.index_select(A, 0, pairs.slot_a, out=stacked)  # stacked[p] = A_{a_p}
    block_B = B[pairs.block_b]  # [nb, n, n]
    stacked_blocks = stacked.view(nb, -1, n)  # [nb, s n, n]: the A_{a_p} of a block, stacked
    product_blocks = products.view(nb, -1, n)
    torch.bmm(stacked_blocks, block_B, out=product_blocks)  # P_p = A_{a_p} B_{b_p}
    flat = products.view(slots, n * n)
    c_t = C.transpose(1, 2).reshape(n, n * n)  # c_t[c, (i, j)] = C_c[j, i]
    logits = (flat @ c_t.T).div_(n)
    residual = (logits - pairs.slot_target).mul_(pairs.slot_weight)
    loss = residual.square().sum()
    g = residual.mul_(2.0 / n)
    # [(i, j), c] (faster than [c, (i, j)] here), then grad_c[c, j, i].
    grad_c = (flat.T @ g).view(n, n, n).permute(2, 1, 0).contiguous()
    torch.matmul(g, c_t, out=flat)  # products[p] now holds ∂L/∂P_p (0 in padding)
    grad_b = torch.zeros_like(B).index_add_(
        0, pairs.block_b, torch.bmm(stacked_blocks.transpose(1, 2), product_blocks))
    torch.bmm(product_blocks, block_B.transpose(1, 2), out=stacked_blocks)  # ∂P_p B_{b_p}ᵀ
    grad_a = torch.zeros_like(A).index_add_(0, pairs.slot_a, stacked)
    return loss, logits[pairs.valid], (grad_a, grad_b, grad_c)


def predict(factors: Factors, a: Tensor, b: Tensor, chunk: int = 2048) -> Tensor:
    """``T[a_p, b_p, :]`` for index vectors ``a, b`` (``[k, n]``), in chunks of pairs."""
    A, B, C = (x.detach() for x in factors.tensors())
    n = factors.n
    c_t = C.transpose(1, 2).reshape(n, n * n)
    out = []
    for lo in range(0, int(a.shape[0]), chunk):
        prod = torch.bmm(A[a[lo:lo + chunk]], B[b[lo:lo + chunk]]).reshape(-1, n * n)
        out.append(prod @ c_t.T / n)
    return torch.cat(out) if out else A.new_zeros(0, n)


class _Objective(torch.autograd.Function):
    """``L + εH`` with the hand-derived gradient (for ``gradcheck`` and autograd users)."""

    @staticmethod
    def forward(ctx, A: Tensor, B: Tensor, C: Tensor, pairs: Pairs, eps: float) -> Tensor:
        factors = Factors(A, B, C)
        loss, _, grads = loss_and_grad(factors, pairs)
        if eps:
            h, h_grads = h_value_and_grad(factors)
            loss = loss + eps * h
            grads = tuple(g + eps * hg for g, hg in zip(grads, h_grads, strict=True))
        ctx.save_for_backward(*grads)
        return loss

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        return (*(grad_output * g for g in ctx.saved_tensors), None, None)


def objective(factors: Factors, pairs: Pairs, eps: float) -> Tensor:
    """``L + εH`` through the fast path, differentiable with respect to ``A, B, C``."""
    return _Objective.apply(factors.A, factors.B, factors.C, pairs, eps)
