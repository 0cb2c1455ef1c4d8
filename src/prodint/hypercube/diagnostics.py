"""What a trained factorization says about its table: accuracy, ``H``, unitarity, the
recovered representation, spectra and the verdict ``is_group_isotope``.

The verdict rests on six pieces of evidence, all required:

- ``operation_table``: the target is a 0/1 table (one symbol per cell);
- ``latin_square``: every row and column of the table is a permutation (a group isotope is a
  quasigroup; e.g. ``x² + y² mod p`` factors exactly with ``H = 3n²`` through the
  non-injective ``x ↦ x²``, so ``H`` alone cannot reject it);
- ``reproduces_table``: the factors predict every cell, observed and held out;
- ``converged``: the training loss per observed pair fell below the recipe's ``loss_tol``;
- ``h_ratio``: ``H/3n²`` within ``H_TOL = 1%`` of 1 (``H ≥ 3n²`` on exact factorizations,
  with equality iff the table is a group isotope and the factors unitary);
- ``homomorphism_error``: the recovered ``ρ`` multiplies like the table's loop within
  ``HOM_TOL = 1e-2``.

Recovered representation. At an exact unitary factorization ``A_a B_b = C_{a∘b}ᵀ``. Fix the
cell ``(u, v)`` (the identity when the table has one, else ``(0, 0)``) and the loop
``x * y = L(R_v⁻¹ x, L_u⁻¹ y)`` (``R_v a = a∘v``, ``L_u b = u∘b``), whose identity is
``e = u∘v``; it is a group iff the table is a group isotope. Then
``ρ(x) = A_uᵀ A_{R_v⁻¹ x}`` satisfies ``ρ(x) ρ(y) = ρ(x * y)`` up to the orthogonal gauge
(for a group table with ``u = v = e``: ``ρ(g) = A_eᵀ A_g``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from prodint.checks import (
    check_bool,
    check_float,
    check_instance,
    check_int,
    check_same_device,
    check_tensor,
)
from prodint.hypercube.arguments import check_mask
from prodint.hypercube.model import Factors, h_value, predict
from prodint.hypercube.tables import check_table, is_latin_square

H_TOL = 0.01
HOM_TOL = 1e-2


def accuracy(factors: Factors, table: Tensor, mask: Tensor) -> tuple[float, float | None]:
    """``(train, held-out)`` accuracy of ``argmax_c T[a, b, c]`` (held-out ``None`` if none)."""
    n = factors.n
    a, b = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    dev = factors.A.device
    pred = predict(factors, a.flatten().to(dev), b.flatten().to(dev)).argmax(-1).cpu()
    right = (pred.view(n, n) == table).to(torch.float64)
    held = ~mask
    return float(right[mask].mean()), (float(right[held].mean()) if bool(held.any()) else None)


class HeldOutCheck:
    """Whether ``argmax_c T[a_p, b_p, c] = y_p`` on every pair of a fixed set, cheaply.

    A chunk of ``k`` pairs costs two products, ``P = A_{a_p} B_{b_p}`` (batched,
    ``[k, n, n]``) and ``P [k, n²] × ctᵀ [n², n]`` (``ct[c, (i, j)] = C_c[j, i]``; the
    ``1/n`` of ``T`` left out, argmax only): ``4 n³`` FLOPs per pair, against ``12 n³`` per
    observed pair in a training step, into buffers allocated once. :meth:`all_right` first
    checks ``probe`` pairs, then the rest in chunks of ``chunk``, and stops at the first
    chunk with a wrong prediction, moving the pairs found wrong to the front of its order:
    while some pair is wrong a check usually costs the probe alone (the wrong pairs of one
    step tend to stay wrong the next), and the full pass is paid at the step where every
    pair is right. Measured on Z_97 and S_5 at fraction 0.5 (4,705 and 7,200 held-out pairs,
    float32, interleaved with the training step on a busy 2-core machine, medians): the probe
    costs 3.4-4.8% of a step, a full pass 0.50 of a step, where
    :func:`~prodint.hypercube.model.predict` on the same pairs took 0.72-0.92 of a step and
    a full pass in chunks of 64 eight times as long as in chunks of 2,048.

    Args:
        a, b: ``[k]`` long, the pairs (``k >= 1``).
        labels: ``[k]`` long, the right symbol of every pair.
        probe: pairs in the first chunk (``>= 1``).
        chunk: pairs in every later chunk (``>= 1``).

    Raises:
        TypeError: ``a``, ``b``, ``labels`` not long tensors; ``probe``/``chunk`` not ints.
        ValueError: ``a``, ``b``, ``labels`` not of one shape ``[k]`` with ``k >= 1`` on one
            device; ``probe`` or ``chunk`` below 1.
    """

    def __init__(self, a: Tensor, b: Tensor, labels: Tensor, probe: int = 64,
                 chunk: int = 2048) -> None:
        self.a = check_tensor(a, "a", rank=1, layout="[k]", dtypes=(torch.long,))
        k = int(self.a.shape[0])
        if k < 1:
            raise ValueError("a: expected at least one pair, received none")
        for name, value in (("b", b), ("labels", labels)):
            check_tensor(value, name, rank=1, layout="[k]", dtypes=(torch.long,))
            if tuple(value.shape) != (k,):
                raise ValueError(f"{name}: expected shape [{k}] (that of a), received "
                                 f"{tuple(value.shape)}")
        check_same_device(a=a, b=b, labels=labels)
        self.b, self.labels = b, labels
        self.probe = check_int(probe, "probe", minimum=1)
        self.chunk = check_int(chunk, "chunk", minimum=1)
        self.order = torch.arange(k, device=a.device)
        self._buffers: tuple[Tensor, ...] = ()

    def _bounds(self) -> list[tuple[int, int]]:
        """The chunks ``[lo, hi)`` of the order: the probe, then chunks of ``chunk``."""
        k = int(self.order.shape[0])
        first = min(self.probe, k)
        return [(0, first)] + [(lo, min(lo + self.chunk, k)) for lo in range(first, k,
                                                                              self.chunk)]

    def _predict(self, factors: Factors, index: Tensor) -> Tensor:
        """``argmax_c T[a_p, b_p, c]`` for the pairs ``index``."""
        A, B, C = (x.detach() for x in factors.tensors())
        n, k = factors.n, int(index.shape[0])
        size = min(max(self.probe, self.chunk), int(self.order.shape[0]))
        if not self._buffers or self._buffers[0].shape != (size, n, n) or \
                self._buffers[0].dtype != A.dtype:
            self._buffers = tuple(A.new_empty(size, n, n) for _ in range(3))
        left, right, product = (x[:k] for x in self._buffers)
        torch.index_select(A, 0, self.a[index], out=left)
        torch.index_select(B, 0, self.b[index], out=right)
        torch.bmm(left, right, out=product)
        ct = C.transpose(1, 2).reshape(n, n * n)
        return (product.view(k, n * n) @ ct.T).argmax(-1)

    def predictions(self, factors: Factors) -> Tensor:
        """``[k]`` long: ``argmax_c T[a_p, b_p, c]`` for every pair, in the given order."""
        index = torch.arange(int(self.order.shape[0]), device=self.a.device)
        return torch.cat([self._predict(factors, index[lo:hi]) for lo, hi in self._bounds()])

    def all_right(self, factors: Factors) -> bool:
        """Whether every pair is predicted right (stops at the first chunk with a wrong one)."""
        for lo, hi in self._bounds():
            index = self.order[lo:hi]
            wrong = index[self._predict(factors, index) != self.labels[index]]
            if wrong.numel():
                rest = torch.ones(int(self.order.shape[0]), dtype=torch.bool,
                                  device=index.device)
                rest[wrong] = False
                self.order = torch.cat([wrong, self.order[rest[self.order]]])
                return False
        return True


def h_ratio(factors: Factors) -> float:
    """``H / 3n²`` (1 at a unitary factorization of a group isotope)."""
    return float(h_value(factors)) / (3 * factors.n**2)


def unitarity_error(factors: Factors) -> float:
    """``max_X ‖XᵀX − I‖_F / √n`` over all ``3n`` factor matrices."""
    n = factors.n
    eye = torch.eye(n, dtype=factors.A.dtype, device=factors.A.device)
    return max(float((X.detach().transpose(1, 2) @ X.detach() - eye).norm(dim=(1, 2)).max())
               for X in factors.tensors()) / math.sqrt(n)


def identity_element(table: Tensor) -> int | None:
    """The two-sided identity of the table, if any."""
    n = int(table.shape[0])
    ar = torch.arange(n)
    both = ((table == ar).all(dim=1) & (table == ar[:, None]).all(dim=0)).nonzero().flatten()
    return int(both[0]) if both.numel() else None


def loop_isotope(table: Tensor, u: int, v: int) -> Tensor:
    """The principal loop isotope ``x * y = L(R_v⁻¹ x, L_u⁻¹ y)`` of a Latin square."""
    row_of = torch.argsort(table[:, v])  # R_v⁻¹: row_of[x] = a with a∘v = x
    col_of = torch.argsort(table[u, :])  # L_u⁻¹
    return table[row_of[:, None], col_of[None, :]]


def representation(factors: Factors, table: Tensor) -> tuple[Tensor, Tensor] | None:
    """``(ρ, loop)``: ``ρ(x) = A_uᵀ A_{R_v⁻¹ x}`` (``[n, n, n]``) and the loop table.

    ``None`` when the table is not a Latin square (no loop isotope).
    """
    if not is_latin_square(table):
        return None
    e = identity_element(table)
    u = v = e if e is not None else 0
    row_of = torch.argsort(table[:, v]).to(factors.A.device)
    A = factors.A.detach()
    return A[u].T @ A[row_of], loop_isotope(table, u, v)


def homomorphism_error(rho: Tensor, loop: Tensor) -> float:
    """``max_{x,y} ‖ρ(x) ρ(y) − ρ(x * y)‖_F / √n``."""
    n = int(rho.shape[0])
    loop = loop.to(rho.device)
    worst = 0.0
    for lo in range(0, n, 8):  # 8 rows of x at a time: [8, n, n, n] products
        products = rho[lo:lo + 8, None] @ rho[None, :]  # ρ(x) ρ(y)
        diff = (products - rho[loop[lo:lo + 8]]).norm(dim=(2, 3))
        worst = max(worst, float(diff.max()))
    return worst / math.sqrt(n)


def spectra(factors: Factors) -> dict[str, Tensor]:
    """Singular values of every factor matrix: ``{"A": [n, n], "B": …, "C": …}`` (descending).

    A unitary factor has all singular values 1; a collapsed one shows a tail of zeros.
    """
    return {name: torch.linalg.svdvals(X.detach().to(torch.float64)).cpu()
            for name, X in zip("ABC", factors.tensors(), strict=True)}


@dataclass
class Evidence:
    """One criterion of the verdict."""

    value: float | bool | None
    threshold: str
    passed: bool


@dataclass
class Diagnostics:
    """Everything measured on a trained factorization."""

    n: int
    train_accuracy: float
    test_accuracy: float | None
    h_ratio: float
    unitarity_error: float
    homomorphism_error: float | None
    is_group_isotope: bool
    evidence: dict[str, Evidence]
    spectra: dict[str, Tensor]
    representation: Tensor | None

    def summary(self) -> dict[str, Any]:
        """JSON-ready scalars and the evidence (no tensors)."""
        keys = ("n", "train_accuracy", "test_accuracy", "h_ratio", "unitarity_error",
                "homomorphism_error", "is_group_isotope")
        out: dict[str, Any] = {k: getattr(self, k) for k in keys}
        out["evidence"] = {k: asdict(v) for k, v in self.evidence.items()}
        return out


def diagnose(factors: Factors, table: Tensor, mask: Tensor, *, converged: bool,
             train_loss: float, operation_table: bool = True) -> Diagnostics:
    """Diagnostics and the verdict for factors trained on the ``mask`` cells of ``table``.

    ``operation_table=False`` marks a real target that is not a 0/1 table (``table`` is then
    its row-wise argmax, used for the accuracies only); the verdict is then ``False``.

    Args:
        factors: the trained :class:`~prodint.hypercube.model.Factors` (on any device).
        table: the ``[n, n]`` table (:func:`~prodint.hypercube.tables.check_table`), ``n``
            that of the factors.
        mask: ``[n, n]`` bool, the training cells (at least one), on the device of ``table``.
        converged: whether training converged.
        train_loss: the final training loss per pair (``>= 0``; may be ``inf``, not NaN).
        operation_table: whether the target was a 0/1 table.

    Raises:
        TypeError: an argument of the wrong kind.
        ValueError: a malformed table, a table or mask of another size than the factors, a
            mask without a True cell, tensors on different devices, a NaN or negative loss.
    """
    check_instance(factors, "factors", Factors)
    n = factors.n
    if isinstance(table, Tensor) and isinstance(mask, Tensor):
        check_same_device(table=table, mask=mask)
    table = check_table(table)
    if int(table.shape[0]) != n:
        raise ValueError(f"table: expected a [{n}, {n}] table (that of the factors), received "
                         f"shape {tuple(table.shape)}")
    mask = check_mask(mask, n).cpu()
    converged = check_bool(converged, "converged")
    train_loss = check_float(train_loss, "train_loss", minimum=0, finite=False)
    operation_table = check_bool(operation_table, "operation_table")
    train_acc, test_acc = accuracy(factors, table, mask)
    ratio = h_ratio(factors)
    recovered = representation(factors, table)
    hom = homomorphism_error(*recovered) if recovered is not None else None
    full = bool(train_acc == 1.0 and (test_acc is None or test_acc == 1.0))
    evidence = {
        "operation_table": Evidence(operation_table, "one symbol per cell", operation_table),
        "latin_square": Evidence(recovered is not None, "every row and column a permutation",
                                 recovered is not None),
        "reproduces_table": Evidence(full, "all cells predicted", full),
        "converged": Evidence(train_loss, "train loss per pair < loss_tol", converged),
        "h_ratio": Evidence(ratio, f"|H/3n² - 1| <= {H_TOL}", abs(ratio - 1) <= H_TOL),
        "homomorphism_error": Evidence(hom, f"<= {HOM_TOL}", hom is not None and hom <= HOM_TOL),
    }
    return Diagnostics(
        n=factors.n, train_accuracy=train_acc, test_accuracy=test_acc, h_ratio=ratio,
        unitarity_error=unitarity_error(factors), homomorphism_error=hom,
        is_group_isotope=all(e.passed for e in evidence.values()), evidence=evidence,
        spectra=spectra(factors), representation=recovered[0] if recovered else None)
