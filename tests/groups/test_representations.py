import itertools
import math

import pytest
import torch

from prodint.groups import (
    SO2,
    SO3,
    PermutationRepresentation,
    Representation,
    cyclic,
    dihedral,
    direct_product,
    direct_sum,
    dual,
    lie_trivial,
    permutation,
    regular,
    sign,
    so2_vector,
    so3_vector,
    symmetric,
    symmetric_permutations,
    tensor_power,
    tensor_product,
    trivial,
)
from prodint.groups.standard import action_table

F64 = torch.float64


def assert_homomorphism(rep: Representation) -> None:
    """Check rho(a) rho(b) = rho(a*b) on all pairs, not only generators."""
    g = rep.group
    m = rep.matrices
    t = g.table
    for a, b in itertools.product(range(g.order), repeat=2):
        torch.testing.assert_close(m[a] @ m[b], m[t[a, b]], atol=1e-12, rtol=0)
    torch.testing.assert_close(m[g.identity], torch.eye(rep.dim, dtype=F64))


def finite_reps():
    s3 = symmetric(3)
    d4 = dihedral(4)
    nat = permutation(s3, symmetric_permutations(3))
    return [
        trivial(cyclic(4), 2),
        regular(cyclic(5)),
        regular(d4),
        regular(direct_product(cyclic(2), cyclic(3))),
        nat,
        sign(s3),
        direct_sum(nat, sign(s3), trivial(s3)),
        tensor_product(nat, regular(s3)),
        tensor_power(nat, 2),
        dual(nat),
    ]


@pytest.mark.parametrize("rep", finite_reps(), ids=lambda r: r.name)
def test_finite_representations_are_homomorphisms(rep):
    assert rep.matrices.dtype == F64 and not rep.is_lie
    assert rep.matrices.shape == (rep.group.order, rep.dim, rep.dim)
    assert_homomorphism(rep)
    gens = rep.group.generators()
    torch.testing.assert_close(rep.generators, rep.matrices[gens])
    for g in range(rep.group.order):
        torch.testing.assert_close(rep(g), rep.matrices[g])


@pytest.mark.parametrize("group", [cyclic(4), dihedral(3), symmetric(3)], ids=lambda g: g.name)
def test_regular_is_the_left_multiplication_permutation_rep(group):
    rep = regular(group)
    m = rep.matrices
    n = group.order
    t = group.table
    assert rep.dim == n
    for g in range(n):
        expected = torch.zeros(n, n, dtype=F64)
        for h in range(n):
            expected[t[g, h], h] = 1.0
        torch.testing.assert_close(m[g], expected)
    assert ((m == 0) | (m == 1)).all()
    assert (m.sum(dim=1) == 1).all() and (m.sum(dim=2) == 1).all()


def test_natural_permutation_rep_moves_basis_vectors():
    s4 = symmetric(4)
    perms = list(itertools.permutations(range(4)))
    rep = permutation(s4, symmetric_permutations(4))
    for g, p in enumerate(perms):
        for i in range(4):
            e_i = torch.zeros(4, dtype=F64)
            e_i[i] = 1
            assert int((rep(g) @ e_i).argmax()) == p[i]


def test_sign_matches_determinant_of_permutation_matrix():
    s4 = symmetric(4)
    nat = permutation(s4, symmetric_permutations(4))
    torch.testing.assert_close(sign(s4).matrices[:, 0, 0], torch.linalg.det(nat.matrices))
    with pytest.raises(ValueError, match="group"):
        sign(cyclic(6))


def test_dims_of_combinators():
    s3 = symmetric(3)
    a, b = regular(s3), sign(s3)
    assert direct_sum(a, b, a).dim == 13
    assert tensor_product(a, b).dim == 6
    assert tensor_power(a, 3).dim == 216 and tensor_power(a, 0).dim == 1
    v = so3_vector()
    assert direct_sum(v, lie_trivial(SO3, 2)).dim == 5
    assert tensor_power(v, 2).dim == 9 and tensor_power(v, 0).dim == 1


def test_finite_tensor_product_and_direct_sum_matrices():
    d3 = dihedral(3)
    a, b = regular(d3), trivial(d3, 2)
    tp, ds = tensor_product(a, b), direct_sum(a, b)
    for g in range(d3.order):
        torch.testing.assert_close(tp(g), torch.kron(a(g), b(g)))
        torch.testing.assert_close(ds(g), torch.block_diag(a(g), b(g)))


def test_combinators_reject_different_groups():
    with pytest.raises(ValueError, match="same group"):
        direct_sum(regular(cyclic(3)), regular(cyclic(4)))
    with pytest.raises(ValueError, match="same group"):
        tensor_product(so3_vector(), so2_vector())
    with pytest.raises(ValueError, match="same group"):
        tensor_product(regular(cyclic(2)), so2_vector())


def test_from_matrices_rejects_non_homomorphisms():
    c3 = cyclic(3)
    th = 2 * math.pi / 3
    rot = torch.tensor([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]], dtype=F64)
    good = torch.stack([torch.eye(2, dtype=F64), rot, rot @ rot])
    rep = Representation.from_matrices(c3, good, name="rot")
    assert rep.dim == 2 and rep.name == "rot"
    assert_homomorphism(rep)
    bad = good.clone()
    bad[2] = rot  # rho(r) rho(r) != rho(r^2)
    with pytest.raises(ValueError, match=r"matrices: expected a homomorphism"):
        Representation.from_matrices(c3, bad)
    with pytest.raises(ValueError, match="matrices: expected shape"):
        Representation.from_matrices(c3, good[:2])
    with pytest.raises(ValueError, match="identity"):
        Representation.from_matrices(c3, 2 * good)


def test_permutation_rejects_non_actions():
    c2 = cyclic(2)
    with pytest.raises(ValueError, match="perm"):
        permutation(c2, [[0, 1, 2], [1, 2, 0]])  # a 3-cycle is not an involution
    with pytest.raises(ValueError, match="perm"):
        permutation(c2, [[0, 0], [1, 0]])
    with pytest.raises(TypeError, match="perm"):
        permutation(c2, [[0.0, 1.0], [1.0, 0.0]])


def test_dense_and_table_permutations_check_the_action_alike():
    c2 = cyclic(2)
    cycle = [[0, 1, 2], [1, 2, 0]]  # r·r = e, but the 3-cycle squared is not the identity
    message = r"perm: expected an action perm\[a\]\[perm\[b\]\] = perm\[a\*b\], received a " \
        r"failure at \(a, b\) = \(1, 1\)"
    with pytest.raises(ValueError, match=message):
        permutation(c2, cycle)
    with pytest.raises(ValueError, match=message):
        PermutationRepresentation.from_permutations(c2, cycle)
    with pytest.raises(ValueError, match=r"^table: expected shape \[2, d\] for C2"):
        action_table(c2, [[0, 1]], argument="table")
    swap = torch.tensor([[0, 1], [1, 0]])
    table = action_table(c2, swap)
    swap[1, 0] = 0  # the checked table is a copy
    assert table.tolist() == [[0, 1], [1, 0]]
    assert torch.equal(permutation(c2, table).matrices[1], torch.tensor([[0.0, 1], [1, 0]],
                                                                        dtype=F64))


def test_representation_is_immutable():
    rep = regular(cyclic(3))
    with pytest.raises(AttributeError):
        rep.dim = 4  # type: ignore[misc]
    rep.matrices[0, 0, 0] = 7.0
    rep.generators[0, 0, 0] = 7.0
    assert float(rep(0)[0, 0]) == 1.0


def _levi_civita() -> torch.Tensor:
    eps = torch.zeros(3, 3, 3, dtype=F64)
    for p in itertools.permutations(range(3)):
        inversions = sum(p[i] > p[j] for i in range(3) for j in range(i + 1, 3))
        eps[p] = (-1.0) ** inversions
    return eps


def test_so3_generators_and_brackets():
    v = so3_vector()
    assert v.is_lie and v.group == SO3 and v.dim == 3
    lx, ly, lz = v.generators
    torch.testing.assert_close(v.generators, -_levi_civita())
    torch.testing.assert_close(lx @ ly - ly @ lx, lz)
    torch.testing.assert_close(ly @ lz - lz @ ly, lx)
    torch.testing.assert_close(lz @ lx - lx @ lz, ly)
    # L_i v = e_i x v
    x = torch.randn(3, dtype=F64, generator=torch.Generator().manual_seed(0))
    for i in range(3):
        e = torch.zeros(3, dtype=F64)
        e[i] = 1
        torch.testing.assert_close(v.generators[i] @ x, torch.linalg.cross(e, x))


def test_so3_matrix_exp_is_a_rotation():
    v = so3_vector()
    t = torch.randn(16, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    r = v.matrix_exp(t)
    assert r.shape == (16, 3, 3)
    eye = torch.eye(3, dtype=F64).expand(16, 3, 3)
    torch.testing.assert_close(r @ r.transpose(1, 2), eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(16, dtype=F64))
    # The rotation vector is the fixed axis, and about e_z this is the textbook matrix.
    torch.testing.assert_close(torch.einsum("bij,bj->bi", r, t), t)
    th = 0.7
    rz = torch.tensor(
        [[math.cos(th), -math.sin(th), 0], [math.sin(th), math.cos(th), 0], [0, 0, 1]], dtype=F64
    )
    torch.testing.assert_close(v.matrix_exp([0.0, 0.0, th]), rz)


def test_so2_vector_and_lie_combinators():
    v = so2_vector()
    assert v.group == SO2
    torch.testing.assert_close(v.generators, torch.tensor([[[0.0, -1.0], [1.0, 0.0]]], dtype=F64))
    th = 1.3
    rot = torch.tensor([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]], dtype=F64)
    torch.testing.assert_close(v.matrix_exp(th), rot)
    # exp of the tensor-product generator is the Kronecker product of the exponentials.
    w = so3_vector()
    t = torch.tensor([0.3, -0.4, 1.1], dtype=F64)
    torch.testing.assert_close(
        tensor_product(w, w).matrix_exp(t), torch.kron(w.matrix_exp(t), w.matrix_exp(t))
    )
    torch.testing.assert_close(
        direct_sum(w, lie_trivial(SO3)).matrix_exp(t),
        torch.block_diag(w.matrix_exp(t), torch.eye(1, dtype=F64)),
    )
    torch.testing.assert_close(dual(w).matrix_exp(t), w.matrix_exp(t))  # orthogonal rep
    assert (lie_trivial(SO2, 3).generators == 0).all()


def test_from_lie_algebra_checks_brackets():
    good = so3_vector().generators
    rep = Representation.from_lie_algebra(SO3, good)
    assert rep.dim == 3
    with pytest.raises(ValueError, match="generators: expected the SO\\(3\\) brackets"):
        Representation.from_lie_algebra(SO3, good[[1, 0, 2]])
    with pytest.raises(ValueError, match="generators: expected shape"):
        Representation.from_lie_algebra(SO3, good[:2])
    with pytest.raises(TypeError, match="group"):
        Representation.from_lie_algebra(cyclic(2), good)
    with pytest.raises(TypeError):
        so3_vector()(0)


def _rotations() -> torch.Tensor:
    th = 2 * math.pi / 3
    rot = torch.tensor([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]], dtype=F64)
    return torch.stack([torch.eye(2, dtype=F64), rot, rot @ rot])


def test_homomorphism_tolerance_does_not_grow_with_the_entries():
    c3 = cyclic(3)
    scaled = _rotations()
    scaled[1:] *= 1e100  # rho(r) rho(r) is 1e200 where rho(r^2) is 1e100: not a homomorphism
    with pytest.raises(ValueError, match=r"^matrices: expected a homomorphism .* got relative "
                                         r"error 1\.000e\+00 at \(a, b\) = \(1, 1\)$"):
        Representation.from_matrices(c3, scaled)
    nilpotent = torch.tensor([[0.0, 1e5], [0.0, 0.0]], dtype=F64)  # N N = 0, never I
    with pytest.raises(ValueError, match="matrices: expected a homomorphism"):
        Representation.from_matrices(c3, torch.stack([torch.eye(2, dtype=F64), nilpotent,
                                                      nilpotent]))
    huge = _rotations()
    huge[1:] *= 1e200  # the products overflow: no tolerance can judge them
    with pytest.raises(ValueError, match=r"^matrices: expected entries whose products are "
                                         r"finite in float64, received entries up to "
                                         r"8\.660e\+199$"):
        Representation.from_matrices(c3, huge)
    # An ill-conditioned but genuine representation (conjugated by diag(1, 1e6)) is accepted.
    p = torch.diag(torch.tensor([1.0, 1e6], dtype=F64))
    conjugated = p @ _rotations() @ torch.linalg.inv(p)
    assert Representation.from_matrices(c3, conjugated).dim == 2


@pytest.mark.parametrize("n", [4, 6, 8, 12])
def test_rotations_from_cos_and_sin_are_accepted_next_to_exact_matrices(n):
    # cos(π/2) = 6e-17 where the exact -I of r^(n/2) has 0: the round-off of the entries of
    # a product is judged on the scale of the whole matrix, not entry by entry.
    angle = torch.arange(n, dtype=F64) * (2 * math.pi / n)
    c, s = torch.cos(angle), torch.sin(angle)
    m = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    m[n // 2] = -torch.eye(2, dtype=F64)
    assert Representation.from_matrices(cyclic(n), m).dim == 2
    m[1] = m[1].T.clone()  # r^-1 in place of r: no longer a homomorphism
    with pytest.raises(ValueError, match="matrices: expected a homomorphism"):
        Representation.from_matrices(cyclic(n), m)


def test_non_finite_or_dataless_matrices_are_refused():
    c3 = cyclic(3)
    bad = _rotations()
    bad[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^matrices: expected finite entries, received 1 NaN"):
        Representation.from_matrices(c3, bad)
    with pytest.raises(ValueError, match=r"^matrices: expected a tensor with data"):
        Representation.from_matrices(c3, _rotations().to("meta"))
    with pytest.raises(TypeError, match=r"^matrices: expected a real tensor"):
        Representation.from_matrices(c3, "rotations")
    with pytest.raises(TypeError, match=r"^name: expected a str or None, received int 3$"):
        Representation.from_matrices(c3, _rotations(), name=3)
    gens = so3_vector().generators
    gens[0, 1, 2] = float("inf")
    with pytest.raises(ValueError, match=r"^generators: expected finite entries"):
        Representation.from_lie_algebra(SO3, gens)
    with pytest.raises(ValueError, match=r"^generators: expected the SO\(3\) brackets"):
        Representation.from_lie_algebra(SO3, 1e100 * so3_vector().generators)


def test_element_index_and_lie_coordinates_are_checked():
    rep = Representation.from_matrices(cyclic(3), _rotations())
    with pytest.raises(ValueError, match=r"^g: expected an int in \[0, 2\], received -1$"):
        rep(-1)
    with pytest.raises(TypeError, match=r"^g: expected an int, received 1\.0$"):
        rep(1.0)
    vec = so2_vector()
    with pytest.raises(ValueError, match=r"^t: expected a finite number, received nan$"):
        vec.matrix_exp(float("nan"))
    with pytest.raises(TypeError, match=r"^t: expected a real number, received True$"):
        vec.matrix_exp(True)
    # A huge angle would come back as NaN (or garbage) from matrix_exp: refused.
    with pytest.raises(ValueError, match=r"^t: expected coordinates whose exponent .* <= "
                                         r"1e\+06, received one of 1\.000e\+300$"):
        vec.matrix_exp(1e300)
    with pytest.raises(ValueError, match=r"^t: expected a tensor with data"):
        vec.matrix_exp(torch.zeros(2, 1, device="meta"))
    with pytest.raises(TypeError, match=r"^t: expected real coordinates"):
        vec.matrix_exp("0.5")
    # NaN and inf coordinates pass through as in torch; the others are computed.
    out = vec.matrix_exp(torch.tensor([float("inf"), 0.0]))
    assert out[0].isnan().all() and torch.equal(out[1], torch.eye(2, dtype=F64))


def test_sizes_are_refused_with_the_estimate_before_allocating():
    c3 = cyclic(3)
    with pytest.raises(ValueError, match=r"^dim: expected a size for which 3 matrices of size "
                                         r"1099511627776 fits in .* would need about .* PiB$"):
        trivial(c3, 2**40)
    with pytest.raises(ValueError, match=r"^dim: expected a size for which 3 generators"):
        lie_trivial(SO3, 2**40)
    with pytest.raises(ValueError, match=r"^group: expected a size for which regular "
                                         r"representation "
                                         r"of C3000 .* about 402\.3 GiB$"):
        regular(cyclic(3000))
    with pytest.raises(ValueError, match=r"^k: expected a size for which 3 matrices of size "
                                         r"3\^40 "):
        tensor_power(regular(c3), 40)
    wide = trivial(cyclic(2), 1000)
    with pytest.raises(ValueError, match=r"^rep1, rep2: expected a size for which 2 matrices of "
                                         r"size 1,000,000 .* about 43\.7 TiB$"):
        tensor_product(wide, wide)


def test_tensor_powers_of_one_dimensional_representations_for_any_k():
    s3 = symmetric(3)
    sgn = sign(s3)
    for k in range(1, 7):
        looped = sgn
        for _ in range(k - 1):
            looped = tensor_product(looped, sgn)
        assert torch.equal(tensor_power(sgn, k).matrices, looped.matrices)
    odd = tensor_power(sgn, 2**61 + 1)  # computed directly, not by 2^61 products
    assert torch.equal(odd.matrices, sgn.matrices) and odd.dim == 1
    assert torch.equal(tensor_power(sgn, 10**30).matrices, trivial(s3).matrices)
    spin = Representation.from_lie_algebra(SO2, torch.tensor([[[0.5]]], dtype=F64))
    assert torch.equal(tensor_power(spin, 3).generators,
                       tensor_product(tensor_product(spin, spin), spin).generators)
    assert float(tensor_power(spin, 10**6).generators) == 5e5
    empty = trivial(s3, 0)
    assert tensor_power(empty, 10**30).dim == 0
