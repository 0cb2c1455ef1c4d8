"""Defining identities of every algebra in the catalogue, checked against independent math."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from prodint.algebra import (
    clifford,
    complex_numbers,
    dual_numbers,
    from_structure_constants,
    group_algebra,
    hadamard,
    matrix_algebra,
    octonions,
    quaternions,
    real,
    tensor_product,
    truncated_polynomial,
)
from prodint.groups import cyclic, dihedral, direct_product, symmetric


def _rand(*shape: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_real_is_multiplication() -> None:
    r = real().double()
    x, y = _rand(7, 1), _rand(7, 1, seed=1)
    torch.testing.assert_close(r.mul(x, y), x * y, rtol=0, atol=1e-15)


def test_complex_matches_torch_complex() -> None:
    c = complex_numbers().double()
    x, y = _rand(10, 2), _rand(10, 2, seed=1)
    expected = torch.view_as_real(torch.view_as_complex(x) * torch.view_as_complex(y))
    torch.testing.assert_close(c.mul(x, y), expected, rtol=0, atol=1e-14)


def test_dual_numbers_carry_derivatives() -> None:
    # (a + a'ε)(b + b'ε) = ab + (a'b + ab')ε: the product rule.
    d = dual_numbers().double()
    x, y = _rand(5, 2), _rand(5, 2, seed=1)
    out = d.mul(x, y)
    torch.testing.assert_close(out[:, 0], x[:, 0] * y[:, 0])
    torch.testing.assert_close(out[:, 1], x[:, 1] * y[:, 0] + x[:, 0] * y[:, 1])


def _hamilton(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    a1, b1, c1, d1 = x.unbind(-1)
    a2, b2, c2, d2 = y.unbind(-1)
    return torch.stack(
        [
            a1 * a2 - b1 * b2 - c1 * c2 - d1 * d2,
            a1 * b2 + b1 * a2 + c1 * d2 - d1 * c2,
            a1 * c2 - b1 * d2 + c1 * a2 + d1 * b2,
            a1 * d2 + b1 * c2 - c1 * b2 + d1 * a2,
        ],
        -1,
    )


def test_quaternions_match_hamilton_product() -> None:
    h = quaternions().double()
    x, y = _rand(10, 4), _rand(10, 4, seed=1)
    torch.testing.assert_close(h.mul(x, y), _hamilton(x, y), rtol=0, atol=1e-14)
    assert h.is_associative() and not h.is_commutative()


def _basis_map_equal(alg_a, alg_b, perm_sign: torch.Tensor) -> None:
    """alg_b = P alg_a P^-1 for the signed permutation matrix P (coordinates x_b = P x_a)."""
    g_a, g_b = alg_a.structure_constants, alg_b.structure_constants
    p = perm_sign
    transported = torch.einsum("abc,ia,jb,kc->ijk", g_a, torch.linalg.inv(p).T,
                               torch.linalg.inv(p).T, p)
    torch.testing.assert_close(transported, g_b, rtol=0, atol=1e-14)


def test_complex_is_cl01_and_quaternions_are_cl02() -> None:
    _basis_map_equal(complex_numbers().double(), clifford(0, 1).double(), torch.eye(2).double())
    # i -> e1, j -> e2, k -> e12: Cl(0,2) is H with the identity map on coordinates.
    _basis_map_equal(quaternions().double(), clifford(0, 2).double(), torch.eye(4).double())
    # a non-trivial map: i -> e2, j -> e1, k -> -e12
    p = torch.tensor([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, -1]]).double()
    _basis_map_equal(quaternions().double(), clifford(0, 2).double(), p)


def test_octonions_alternative_not_associative_and_normed() -> None:
    o = octonions().double()
    assert o.is_alternative()
    assert not o.is_associative()
    assert not o.is_commutative()
    x, y = _rand(20, 8), _rand(20, 8, seed=1)
    # A composition algebra: |xy| = |x||y| (fails for any wrong sign in the Fano table).
    torch.testing.assert_close(o.mul(x, y).norm(dim=-1), x.norm(dim=-1) * y.norm(dim=-1))
    torch.testing.assert_close(o.unit(), torch.eye(8, dtype=torch.float64)[0])


@pytest.mark.parametrize("p,q,r", [(2, 0, 0), (3, 0, 0), (0, 1, 0), (1, 1, 1), (2, 1, 1)])
def test_clifford_generators(p: int, q: int, r: int) -> None:
    alg = clifford(p, q, r).double()
    n = p + q + r
    assert alg.dim == 2**n
    e = alg.basis()
    one = e[0]
    gens = e[1 : n + 1]
    squares = [1.0] * p + [-1.0] * q + [0.0] * r
    for i in range(n):
        torch.testing.assert_close(alg.mul(gens[i], gens[i]), squares[i] * one)
        for j in range(i + 1, n):
            anti = alg.mul(gens[i], gens[j]) + alg.mul(gens[j], gens[i])
            torch.testing.assert_close(anti, torch.zeros_like(anti))
    assert alg.is_associative()


def test_clifford_blade_order() -> None:
    alg = clifford(3)
    assert alg.basis_names == ["1", "e1", "e2", "e3", "e12", "e13", "e23", "e123"]
    # e1 e2 = e12 and e2 e1 = -e12; e12 e12 = -1 in Cl(3,0).
    g = alg.structure_constants
    assert g[1, 2, 4] == 1 and g[2, 1, 4] == -1 and g[4, 4, 0] == -1


@pytest.mark.parametrize("group_fn", [lambda: cyclic(6), lambda: dihedral(4), lambda: symmetric(3),
                                      lambda: direct_product(cyclic(2), cyclic(3))])
def test_group_algebra_is_group_convolution(group_fn) -> None:
    group = group_fn()
    alg = group_algebra(group).double()
    n = group.order
    x, y = _rand(3, n), _rand(3, n, seed=1)
    expected = torch.zeros(3, n, dtype=torch.float64)
    for g in range(n):
        for h in range(n):
            expected[:, group.table[g, h]] += x[:, g] * y[:, h]
    for kernel in alg.available_kernels():
        torch.testing.assert_close(alg.mul(x, y, kernel=kernel), expected, rtol=0, atol=1e-12)
    assert alg.is_associative()
    assert alg.is_commutative() == group.is_abelian()


def test_cyclic_group_algebra_uses_fft_and_is_circular_convolution() -> None:
    alg = group_algebra(cyclic(64)).double()
    assert "fft" in alg.available_kernels()
    x, y = _rand(4, 64), _rand(4, 64, seed=1)
    # circular convolution through conv1d on a wrapped signal: out[c] = Σ_b y[b] x[c - b]
    xp = torch.cat([x[:, 1:], x], -1).unsqueeze(1)  # x[c-b] for b in 0..63
    expected = torch.stack(
        [F.conv1d(xp[i : i + 1], y[i].flip(0).view(1, 1, -1)).view(-1) for i in range(4)]
    )
    torch.testing.assert_close(alg.mul(x, y), expected, rtol=0, atol=1e-11)


def test_truncated_polynomial_is_causal_convolution() -> None:
    n = 9
    alg = truncated_polynomial(n).double()
    x, y = _rand(2, n), _rand(2, n, seed=1)
    # causal convolution out[t] = Σ_{s<=t} x[s] y[t-s] via conv1d with left zero padding
    expected = torch.stack(
        [
            F.conv1d(F.pad(x[i].view(1, 1, n), (n - 1, 0)), y[i].flip(0).view(1, 1, n)).view(-1)
            for i in range(2)
        ]
    )
    torch.testing.assert_close(alg.mul(x, y), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(dual_numbers().structure_constants,
                               truncated_polynomial(2).structure_constants)


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_matrix_algebra_is_matmul(m: int) -> None:
    alg = matrix_algebra(m).double()
    x, y = _rand(6, m, m), _rand(6, m, m, seed=1)
    out = alg.mul(x.reshape(6, -1), y.reshape(6, -1), kernel="sparse").reshape(6, m, m)
    torch.testing.assert_close(out, x @ y, rtol=0, atol=1e-12)
    assert alg.basis_names[1 if m > 1 else 0] == ("E01" if m > 1 else "E00")
    torch.testing.assert_close(alg.unit(), torch.eye(m, dtype=torch.float64).flatten())


def test_hadamard_is_pointwise() -> None:
    alg = hadamard(5).double()
    x, y = _rand(3, 5), _rand(3, 5, seed=1)
    torch.testing.assert_close(alg.mul(x, y, kernel="dense"), x * y, rtol=0, atol=1e-15)
    torch.testing.assert_close(alg.unit(), torch.ones(5, dtype=torch.float64))


def test_tensor_product_kronecker_and_index_convention() -> None:
    a, b = complex_numbers().double(), matrix_algebra(2).double()
    ab = tensor_product(a, b)
    assert ab.dim == 8
    expected = torch.einsum("abc,ijk->aibjck", a.structure_constants, b.structure_constants)
    torch.testing.assert_close(ab.structure_constants, expected.reshape(8, 8, 8))
    # (u ⊗ v)(u' ⊗ v') = (u u') ⊗ (v v') with index i*dim(b)+j
    u, up = _rand(2), _rand(2, seed=1)
    v, vp = _rand(4, seed=2), _rand(4, seed=3)
    lhs = ab.mul(torch.outer(u, v).flatten(), torch.outer(up, vp).flatten())
    rhs = torch.outer(a.mul(u, up), b.mul(v, vp)).flatten()
    torch.testing.assert_close(lhs, rhs)
    assert ab.basis_names[1] == "1⊗E01"


def test_tensor_product_of_cyclic_is_2d_circular_convolution() -> None:
    alg = tensor_product(group_algebra(cyclic(4)), group_algebra(cyclic(6))).double()
    assert alg.kernel == "fft" or "fft" in alg.available_kernels()
    x, y = _rand(4, 6), _rand(4, 6, seed=1)
    expected = torch.zeros(4, 6, dtype=torch.float64)
    for i, j, k, l in itertools.product(range(4), range(6), range(4), range(6)):
        expected[(i + k) % 4, (j + l) % 6] += x[i, j] * y[k, l]
    out = alg.mul(x.flatten(), y.flatten(), kernel="fft").view(4, 6)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_from_structure_constants_round_trip_and_recognition() -> None:
    h = quaternions().double()
    again = from_structure_constants(h.structure_constants)
    torch.testing.assert_close(again.structure_constants, h.structure_constants)
    assert from_structure_constants(matrix_algebra(3).structure_constants).kernel == "matmul"
    assert from_structure_constants(hadamard(6).structure_constants).kernel == "elementwise"
    z = from_structure_constants(group_algebra(cyclic(32)).structure_constants)
    assert "fft" in z.available_kernels()
    ints = from_structure_constants(torch.ones(2, 2, 2, dtype=torch.long))
    assert ints.dtype == torch.get_default_dtype()


def test_identities_reported_correctly() -> None:
    assert real().is_commutative() and real().is_associative()
    assert complex_numbers().is_commutative()
    assert not matrix_algebra(2).is_commutative()
    assert clifford(2, 0, 1).unit() is not None
    # the Lie algebra so(3) (cross product) has no unit and is not associative
    eps = torch.zeros(3, 3, 3)
    for i, j, k in itertools.permutations(range(3)):
        eps[i, j, k] = torch.eye(3)[[i, j, k]].det()
    cross = from_structure_constants(eps.double())
    assert cross.unit() is None and not cross.is_associative() and not cross.is_commutative()
    x, y = _rand(3), _rand(3, seed=1)
    torch.testing.assert_close(cross.mul(x, y), torch.linalg.cross(x, y))


@pytest.mark.parametrize("build, argument", [
    (lambda: hadamard(2**40), "n"),
    (lambda: truncated_polynomial(10**9), "n"),
    (lambda: matrix_algebra(10**5), "n"),
    (lambda: tensor_product(hadamard(10**5), hadamard(10**5)), "a, b"),
])
def test_huge_sizes_are_refused_with_the_estimate_before_building(build, argument) -> None:
    # Each would allocate terabytes; the refusal comes at once, with the estimate.
    with pytest.raises(ValueError, match=rf"{argument}: expected a size for which algebra "
                                         rf"\(.* structure constants.*would need about .*B"):
        build()


def test_clifford_signature_is_bounded() -> None:
    with pytest.raises(ValueError, match="p \\+ q \\+ r: expected at most 10 generators"):
        clifford(6, 5)
    with pytest.raises(TypeError, match="p: expected an int, received True"):
        clifford(True)  # type: ignore[arg-type]


def test_integer_structure_constants_are_converted_exactly() -> None:
    g = quaternions().double().structure_constants
    alg = from_structure_constants(g.round().long())
    torch.testing.assert_close(alg.structure_constants, g.to(alg.dtype), rtol=0, atol=0)
