"""Bases in which an algebra's structure constants are an operation table, or why there is none.

HyperCube decides whether a 0/1 table is a group isotope. An algebra ``e_a e_b = Σ_c Γ[a,b,c] e_c``
is such a table only in special bases: in a basis ``f_k = Σ_a P[a, k] e_a`` the structure
constants are ``Γ'[i, j, k] = Σ_{a,b,c} P[a, i] P[b, j] Γ[a, b, c] P⁻¹[k, c]``
(:func:`change_basis`), and the question is whether some ``P`` makes ``Γ'`` a table
``Γ'[i, j, k] = [i∘j = k]`` (a *multiplicative basis*). Three ways to one are tried here.

1. Permuted and rescaled basis (:func:`rescaled_table`). When every ``Γ[a, b, :]`` has exactly
   one nonzero entry, ``λ_ab`` at ``c = a∘b`` (a "twisted" table), the basis ``f_a = s_a e_a``
   has ``f_a f_b = s_a s_b λ_ab / s_{a∘b} · f_{a∘b}``: a 0/1 table iff
   ``s_a s_b λ_ab = s_{a∘b}`` for all ``(a, b)``. The magnitudes solve the linear system
   ``log|s_a| + log|s_b| − log|s_{a∘b}| = −log|λ_ab|`` (least squares, then checked), the signs
   the same system over GF(2) (``σ_a + σ_b + σ_{a∘b} = [λ_ab < 0]``, Gaussian elimination). A
   permutation of the basis needs nothing: it relabels the symbols. When no scaling works
   (``i·i = −1`` in ``C``: ``s_i² = −1``) the table is a genuinely twisted one.

2. A group basis through the characters (:func:`group_basis`, commutative algebras). A
   commutative, associative, unital, semisimple real algebra is ``R^r × C^s``; its ``n``
   complex characters ``φ(xy) = φ(x)φ(y)``, ``φ(1) = 1`` are the common left eigenvectors of
   the left multiplications ``L(x) = Γ[x, :, :]`` (found from ``L(x)`` for a random ``x``,
   which separates them, and checked on every basis pair); ``r`` of them are real and the
   others come in conjugate pairs. For an abelian group ``G`` of order ``n``,
   ``R[G] ≅ R^r × C^s`` with ``r = |{g : g² = e}| = 2^k`` (``k`` the number of even cyclic
   factors). So the algebra is a group algebra iff ``r = 1`` for odd ``n``, or ``r = 2^k`` with
   ``1 ≤ k ≤ v₂(n)`` for even ``n``; then ``G = Z_2^{k-1} × Z_{n/2^{k-1}}`` is one such group
   (``R[Z_9] ≅ R[Z_3 × Z_3]``: the algebra does not determine the group). Any bijection of the
   algebra's characters onto ``Ĝ`` that matches complex conjugation is an isomorphism, and the
   group element ``g`` is the real vector ``y_g`` with ``φ_i(y_g) = χ_{σ(i)}(g)``, i.e.
   ``y_g = Φ⁻¹ Ψ[:, g]``. The basis ``P = [y_g]`` is then checked to give ``G``'s table.

3. Proofs that there is no group basis. A group algebra ``R[G]`` is associative, has the unit
   ``e``, and is semisimple (Maschke): its trace form ``τ(xy)`` (``τ(x) = tr L(x)``) is
   nondegenerate, which in characteristic 0 is equivalent to semisimplicity of an associative
   algebra. It is commutative iff ``G`` is abelian, and when every group of order ``n`` is
   abelian (``n`` cube-free with ``p^i ≢ 1 mod q`` for primes ``p, q | n``, ``i ≤ v_p(n)``;
   Dickson) a non-commutative algebra of dimension ``n`` is none. For an associative algebra a
   multiplicative basis whose table is a Latin square is a group basis (the table inherits
   associativity, and an associative quasigroup is a group), so for associative algebras "a
   group isotope in some basis" and "a group algebra" are the same question.

What is not decided: a non-commutative algebra that passes every test of 3 (``R[S_3]`` in
another basis) may be a group algebra; finding its group basis needs the Wedderburn
decomposition and the group's real irreducible representations, which is not attempted. A
non-associative algebra is no group algebra, but another basis could still make it the table
of a group isotope that is not a group (``x − y mod p``); that search is not attempted either.

Tolerances follow the algebra's dtype: ``tol = √ε`` relative to the sizes of the tensors
compared (``ε`` the machine epsilon), ``√tol`` for the bases built from characters (their
conditioning multiplies the rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from prodint.groups import Group, cyclic, direct_product

TABLE = "table"
RESCALED = "rescaled"
CHARACTERS = "characters"


def tolerance(dtype: torch.dtype) -> float:
    """``√ε`` of ``dtype``: the relative tolerance of every check here."""
    return math.sqrt(torch.finfo(dtype).eps)


@dataclass(frozen=True)
class Reduction:
    """A multiplicative basis: ``f_k = Σ_a basis[a, k] e_a`` has ``f_i f_j = f_{table[i, j]}``.

    Attributes:
        method: ``"table"`` (Γ is already a 0/1 table), ``"rescaled"`` (a permuted, rescaled
            basis) or ``"characters"`` (a group basis of a commutative algebra).
        basis: ``[n, n]`` float64, column ``k`` the coordinates of ``f_k``.
        table: ``[n, n]`` long, the operation table in that basis.
        residual: ``max |Γ' − [i∘j = k]|`` of the structure constants ``Γ'`` in that basis.
    """

    method: str
    basis: Tensor
    table: Tensor
    residual: float


@dataclass(frozen=True)
class Finding:
    """The outcome of the search for a group basis.

    ``reduction`` is the group basis when one was found; otherwise ``proven`` says whether
    ``reason`` proves that the algebra is no group algebra in any basis. ``associative`` is
    the first test's answer (a non-associative algebra may still be a group isotope's table).
    """

    reduction: Reduction | None
    proven: bool
    reason: str
    associative: bool = True


def change_basis(gamma: Tensor, basis: Tensor) -> Tensor:
    """``Γ'[i, j, k] = Σ P[a, i] P[b, j] Γ[a, b, c] P⁻¹[k, c]`` for ``P = basis`` (``[n, n]``)."""
    n = basis.shape[0]
    inverse = torch.linalg.inv(basis)
    out = (basis.T @ gamma.reshape(n, n * n)).reshape(n, n, n)  # leg a
    out = (basis.T @ out.transpose(0, 1).reshape(n, n * n)).reshape(n, n, n).transpose(0, 1)
    return out @ inverse.T  # leg c


def _one_hot(table: Tensor) -> Tensor:
    return torch.nn.functional.one_hot(table, table.shape[0]).to(torch.float64)


def _solve_gf2(rows: Tensor, rhs: Tensor) -> Tensor | None:
    """A solution ``σ`` of ``rows σ = rhs`` over GF(2) (bool tensors), ``None`` if none."""
    m = torch.cat([rows, rhs[:, None]], 1)
    n = rows.shape[1]
    pivots: list[int] = []
    for col in range(n):
        rank = len(pivots)
        candidates = m[rank:, col].nonzero()
        if candidates.numel() == 0:
            continue
        p = rank + int(candidates[0])
        m[[rank, p]] = m[[p, rank]]
        hit = m[:, col].clone()
        hit[rank] = False
        m[hit] ^= m[rank]
        pivots.append(col)
    if bool(m[len(pivots):, n].any()):
        return None
    solution = torch.zeros(n, dtype=torch.bool)
    for i, col in enumerate(pivots):
        solution[col] = m[i, n]
    return solution


def rescaled_table(gamma: Tensor, tol: float) -> Reduction | None:
    """The basis ``f_a = s_a e_a`` in which ``Γ`` (``[n, n, n]`` float64) is a 0/1 table, if
    every ``Γ[a, b, :]`` has one nonzero entry and the scalings are consistent (module doc)."""
    n = gamma.shape[0]
    scale = float(gamma.abs().max())
    if scale == 0:
        return None
    if not bool(((gamma.abs() > tol * scale).sum(-1) == 1).all()):
        return None
    table = gamma.abs().argmax(-1)
    lam = gamma.gather(-1, table[..., None]).squeeze(-1).flatten()
    a, b = (i.flatten() for i in torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij"))
    pair = torch.arange(n * n)
    incidence = torch.zeros(n * n, n, dtype=torch.float64)
    incidence.index_put_((pair, a), torch.ones(n * n, dtype=torch.float64), accumulate=True)
    incidence.index_put_((pair, b), torch.ones(n * n, dtype=torch.float64), accumulate=True)
    incidence.index_put_((pair, table.flatten()), -torch.ones(n * n, dtype=torch.float64),
                         accumulate=True)
    target = -lam.abs().log()
    logs = torch.linalg.lstsq(incidence, target[:, None]).solution.squeeze(-1)
    if float((incidence @ logs - target).abs().max()) > tol:
        return None
    signs = _solve_gf2(incidence.remainder(2).to(torch.bool), lam < 0)
    if signs is None:
        return None
    s = logs.exp() * (1 - 2 * signs.to(torch.float64))
    rescaled = gamma * s[:, None, None] * s[None, :, None] / s[None, None, :]
    residual = float((rescaled - _one_hot(table)).abs().max())
    if residual > tol:
        return None
    method = TABLE if bool(torch.allclose(s, torch.ones_like(s), rtol=0, atol=tol)) else RESCALED
    return Reduction(method, torch.diag(s), table, residual)


def _product(gamma: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """``(x y)_c = Σ Γ[a, b, c] x_a y_b`` for ``[k, n]`` rows ``x``, ``y``."""
    n = gamma.shape[0]
    left = (x @ gamma.reshape(n, n * n)).reshape(-1, n, n)  # [k, b, c]
    return (y[:, None, :] @ left).squeeze(1)


def is_associative(gamma: Tensor, tol: float) -> bool:
    """``(xy)z = x(yz)`` on 8 random triples (the associator is trilinear: it vanishes on
    random arguments only if it vanishes), relative to the bound ``‖Γ‖²‖x‖‖y‖‖z‖``."""
    g = torch.Generator().manual_seed(0)
    x, y, z = (v / v.norm(dim=-1, keepdim=True)
               for v in torch.randn(3, 8, gamma.shape[0], generator=g, dtype=torch.float64))
    left = _product(gamma, _product(gamma, x, y), z)
    right = _product(gamma, x, _product(gamma, y, z))
    return float((left - right).norm(dim=-1).max()) <= tol * float(gamma.norm()) ** 2


def _unit(gamma: Tensor, tol: float) -> Tensor | None:
    """The two-sided unit ``u`` (``Σ_a u_a Γ[a, b, c] = δ_bc`` and ``Σ_b u_b Γ[a, b, c] = δ_ac``,
    least squares, then checked), or ``None``."""
    n = gamma.shape[0]
    eye = torch.eye(n, dtype=torch.float64)
    left = gamma.permute(1, 2, 0).reshape(n * n, n)  # (b, c) rows: Σ_a u_a Γ[a, b, c] = δ_bc
    right = gamma.permute(0, 2, 1).reshape(n * n, n)  # (a, c) rows: Σ_b u_b Γ[a, b, c] = δ_ac
    system = torch.cat([left, right])
    target = torch.cat([eye.flatten(), eye.flatten()])
    u = torch.linalg.lstsq(system, target[:, None]).solution.squeeze(-1)
    residual = float((system @ u - target).abs().max())
    return u if residual <= tol * max(1.0, float(gamma.norm()) * float(u.norm())) else None


def _is_semisimple(gamma: Tensor) -> bool:
    """The trace form ``B[a, b] = τ(e_a e_b)``, ``τ(e_c) = Σ_b Γ[c, b, b]``, is nondegenerate
    (smallest singular value above ``100 n ε`` of the largest)."""
    n = gamma.shape[0]
    trace = torch.einsum("cbb->c", gamma)
    form = torch.einsum("abc,c->ab", gamma, trace)
    sv = torch.linalg.svdvals(form)
    return float(sv[-1]) > 100 * n * torch.finfo(torch.float64).eps * float(sv[0])


def _only_abelian_groups(n: int) -> bool:
    """Every group of order ``n`` is abelian (Dickson's criterion, module doc)."""
    factors: dict[int, int] = {}
    m, p = n, 2
    while p * p <= m:
        while m % p == 0:
            factors[p] = factors.get(p, 0) + 1
            m //= p
        p += 1
    if m > 1:
        factors[m] = factors.get(m, 0) + 1
    return all(e <= 2 for e in factors.values()) and not any(
        (p**i - 1) % q == 0 for p, e in factors.items() for q in factors for i in range(1, e + 1))


def _characters(gamma: Tensor, unit: Tensor, tol: float) -> Tensor | None:
    """``[n, n]`` complex: row ``i`` the values ``φ_i(e_a)`` of the ``n`` characters, or ``None``
    when a random element does not separate them within the tolerance (three tries)."""
    n = gamma.shape[0]
    g = torch.Generator().manual_seed(0)
    gc = gamma.to(torch.complex128)
    size = float(gamma.norm())
    for _ in range(3):
        x = torch.randn(n, generator=g, dtype=torch.float64)
        left = torch.einsum("a,abc->cb", x, gamma)  # L(x)[c, b]: y ↦ x y
        _, vectors = torch.linalg.eig(left.T)  # L(x)ᵀ w = λ w: w a left eigenvector
        phi = vectors.T
        norm = phi @ unit.to(torch.complex128)
        if bool((norm.abs() < tol).any()):
            continue
        phi = phi / norm[:, None]
        products = torch.einsum("abc,ic->iab", gc, phi)
        error = (products - phi[:, :, None] * phi[:, None, :]).abs().amax(dim=(1, 2))
        bound = phi.abs().amax(1) * torch.maximum(phi.abs().amax(1), torch.tensor(size))
        if bool((error <= tol * n * bound).all()):
            return phi
    return None


def _abelian_group(n: int, real: int) -> Group | None:
    """``Z_2^{k-1} × Z_{n/2^{k-1}}`` with ``2^k = real`` involutions and identity (``Z_n`` for
    ``real = 1``, ``n`` odd), or ``None`` when no abelian group of order ``n`` has ``real``."""
    two = (n & -n).bit_length() - 1  # v₂(n)
    k = real.bit_length() - 1
    if real < 1 or real != 1 << k or (two == 0) != (k == 0) or k > two:
        return None
    group = cyclic(n >> max(k - 1, 0))
    for _ in range(k - 1):
        group = direct_product(cyclic(2), group)
    return group


def _group_characters(n: int, k: int) -> tuple[Tensor, Tensor]:
    """``(Ψ, inverse)`` of ``Z_2^{k-1} × Z_N`` in row-major element order: ``Ψ[v, g]`` the
    character ``v`` at ``g``, ``inverse[v]`` the index of ``χ̄_v = χ_{-v}``."""
    radices = [2] * max(k - 1, 0) + [n >> max(k - 1, 0)]
    digits = torch.zeros(n, len(radices), dtype=torch.long)
    rest = torch.arange(n)
    for t in reversed(range(len(radices))):
        digits[:, t], rest = rest % radices[t], rest // radices[t]
    r = torch.tensor(radices, dtype=torch.float64)
    phase = (digits[:, None, :] * digits[None, :, :] / r).sum(-1)
    weights = torch.tensor([math.prod(radices[t + 1:]) for t in range(len(radices))])
    inverse = ((-digits) % torch.tensor(radices) * weights).sum(-1)
    return torch.polar(torch.ones_like(phase), 2 * math.pi * phase), inverse


def _commutative_group_basis(gamma: Tensor, unit: Tensor, tol: float) -> Finding:
    n = gamma.shape[0]
    phi = _characters(gamma, unit, tol)
    if phi is None:
        return Finding(None, False, "the characters of this commutative algebra could not be "
                       "separated within the tolerance")
    size = phi.abs().amax(1)
    real = phi.imag.abs().amax(1) <= tol * n * size
    complex_rows = [int(i) for i in (~real).nonzero().flatten()]
    partner: dict[int, int] = {}
    for i in complex_rows:
        if i in partner:
            continue
        distance = (phi - phi[i].conj()).abs().amax(1)
        distance[real] = math.inf
        distance[[*partner, i]] = math.inf
        j = int(distance.argmin())
        if float(distance[j]) > tol * n * float(size[i]):
            return Finding(None, False, "the complex characters could not be paired with "
                           "their conjugates within the tolerance")
        partner[i], partner[j] = j, i
    r = int(real.sum())
    group = _abelian_group(n, r)
    if group is None:
        return Finding(None, True, f"the commutative algebra is R^{r} x C^{(n - r) // 2}, "
                       f"while R[G] for an abelian G of order n = {n} is R^r x C^s with "
                       f"r = #{{g : g² = e}}: 1 for odd n, a power of 2 from 2 to 2^v₂(n) for "
                       f"even n; r = {r} is none of these")
    psi, inverse = _group_characters(n, r.bit_length() - 1)
    group_real = [int(v) for v in range(n) if int(inverse[v]) == v]
    group_pairs = [v for v in range(n) if int(inverse[v]) > v]
    sigma = torch.empty(n, dtype=torch.long)
    sigma[real.nonzero().flatten()] = torch.tensor(group_real)
    firsts = [i for i in complex_rows if partner[i] > i]
    for i, v in zip(firsts, group_pairs, strict=True):
        sigma[i], sigma[partner[i]] = v, int(inverse[v])
    elements = torch.linalg.solve(phi, psi[sigma])  # column g: φ_i(y_g) = χ_σ(i)(g)
    basis = elements.real
    reduced = change_basis(gamma, basis)
    residual = float((reduced - _one_hot(group.table)).abs().max())
    if bool(elements.imag.abs().max() > math.sqrt(tol) * basis.abs().max()) or \
            residual > math.sqrt(tol):
        return Finding(None, False, f"the group basis built from the characters misses the "
                       f"table of {group.name} by {residual:.3g}, beyond the tolerance")
    return Finding(Reduction(CHARACTERS, basis, group.table.clone(), residual), False,
                   f"a group basis of {group.name} from the characters (R^{r} x "
                   f"C^{(n - r) // 2})")


def group_basis(gamma: Tensor, tol: float) -> Finding:
    """A basis in which ``Γ`` (``[n, n, n]`` float64) is a group table, or why there is none.

    The tests of the module docstring in order: associativity, the unit, semisimplicity,
    commutativity (the characters' group basis) and, for a non-commutative algebra, whether
    the order admits a non-abelian group at all.
    """
    n = gamma.shape[0]
    if not is_associative(gamma, tol):
        return Finding(None, True, "the algebra is not associative (group algebras are)",
                       associative=False)
    unit = _unit(gamma, tol)
    if unit is None:
        return Finding(None, True, "the algebra has no two-sided unit, and a group algebra has "
                       "the identity element")
    if not _is_semisimple(gamma):
        return Finding(None, True, "the trace form tau(xy) is degenerate, so the algebra is not "
                       "semisimple, and group algebras are (Maschke)")
    if float((gamma - gamma.transpose(0, 1)).abs().max()) <= tol * float(gamma.abs().max()):
        return _commutative_group_basis(gamma, unit, tol)
    if _only_abelian_groups(n):
        return Finding(None, True, f"the algebra is not commutative, and every group of order "
                       f"{n} is abelian, so its group algebra is commutative")
    return Finding(None, False, "the algebra is associative, unital, semisimple and not "
                   "commutative: every test of a group algebra here holds, so it may be a "
                   "group algebra in another basis; a group basis of a non-commutative algebra "
                   "is not searched for")

