import itertools
import math
import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prodint.groups import (
    SO2,
    SO3,
    Representation,
    cache_info,
    choose_solver,
    clear_cache,
    constraint_matrix,
    cyclic,
    dihedral,
    direct_sum,
    dual,
    equivariant_basis,
    equivariant_bilinear_basis,
    equivariant_projector,
    lie_trivial,
    permutation,
    project_equivariant,
    regular,
    sign,
    so2_vector,
    so3_vector,
    symmetric,
    symmetric_permutations,
    tensor_product,
    trivial,
)

F64 = torch.float64
TOL = 1e-10


def nat(n: int) -> Representation:
    return permutation(symmetric(n), symmetric_permutations(n))


def finite_residual(basis: torch.Tensor, rep_in: Representation, rep_out: Representation):
    """max_g,k |rho_out(g) B_k - B_k rho_in(g)| over ALL elements g."""
    mi, mo = rep_in.matrices, rep_out.matrices
    lhs = torch.einsum("gij,kjl->gkil", mo, basis)
    rhs = torch.einsum("kij,gjl->gkil", basis, mi)
    return float((lhs - rhs).abs().max()) if basis.numel() else 0.0


def lie_residual(basis: torch.Tensor, rep_in: Representation, rep_out: Representation):
    xi, xo = rep_in.generators, rep_out.generators
    lhs = torch.einsum("gij,kjl->gkil", xo, basis)
    rhs = torch.einsum("kij,gjl->gkil", basis, xi)
    return float((lhs - rhs).abs().max()) if basis.numel() else 0.0


def assert_orthonormal(basis: torch.Tensor) -> None:
    flat = basis.reshape(basis.shape[0], -1)
    torch.testing.assert_close(flat @ flat.T, torch.eye(len(flat), dtype=F64), atol=TOL, rtol=0)


def character_dimension(rep_in: Representation, rep_out: Representation) -> int:
    """dim Hom_G(V, W) = (1/|G|) sum_g chi_V(g) chi_W(g^-1), independent of any SVD."""
    chi_in = torch.diagonal(rep_in.matrices, dim1=1, dim2=2).sum(-1)
    chi_out = torch.diagonal(rep_out.matrices, dim1=1, dim2=2).sum(-1)
    value = float((chi_in * chi_out[rep_in.group.inverse]).sum()) / rep_in.group.order
    assert abs(value - round(value)) < 1e-9
    return round(value)


@pytest.mark.parametrize("group", [cyclic(5), dihedral(4), symmetric(3)], ids=lambda g: g.name)
def test_commutant_of_regular_rep_has_dimension_order(group):
    rep = regular(group)
    basis = equivariant_basis(rep, rep)
    assert basis.shape == (group.order, group.order, group.order)
    assert basis.dtype == F64
    assert finite_residual(basis, rep, rep) < TOL
    assert_orthonormal(basis)
    # The commutant of left multiplication is spanned by right multiplications.
    t = group.table
    right = torch.zeros(group.order, group.order, group.order, dtype=F64)
    for g, h in itertools.product(range(group.order), repeat=2):
        right[g, t[h, g], h] = 1.0
    flat = basis.reshape(group.order, -1)
    proj = (right.reshape(group.order, -1) @ flat.T) @ flat
    torch.testing.assert_close(proj, right.reshape(group.order, -1), atol=TOL, rtol=0)


@pytest.mark.parametrize(
    ("rep_in", "rep_out", "dim"),
    [
        (trivial(cyclic(4)), trivial(cyclic(4)), 1),
        (regular(dihedral(3)), trivial(dihedral(3)), 1),
        (trivial(dihedral(3)), regular(dihedral(3)), 1),
        (nat(2), nat(2), 2),
        (nat(3), nat(3), 2),
        (nat(4), nat(4), 2),
        (tensor_product(nat(3), nat(3)), nat(3), 5),
        (tensor_product(nat(4), nat(4)), nat(4), 5),
        (sign(symmetric(3)), trivial(symmetric(3)), 0),
        (regular(cyclic(1)), trivial(cyclic(1), 3), 3),
    ],
    ids=lambda x: x.name if isinstance(x, Representation) else str(x),
)
def test_known_finite_dimensions(rep_in, rep_out, dim):
    basis = equivariant_basis(rep_in, rep_out)
    assert basis.shape == (dim, rep_out.dim, rep_in.dim)
    assert dim == character_dimension(rep_in, rep_out)
    assert finite_residual(basis, rep_in, rep_out) < TOL
    if dim:
        assert_orthonormal(basis)


def test_permutation_commutant_is_identity_and_all_ones():
    for n in (2, 3, 4):
        basis = equivariant_basis(nat(n), nat(n)).reshape(2, -1)
        span = torch.stack([torch.eye(n, dtype=F64), torch.ones(n, n, dtype=F64)]).reshape(2, -1)
        torch.testing.assert_close(span @ basis.T @ basis, span, atol=TOL, rtol=0)


REP_POOL = {
    "S3": lambda: [regular(symmetric(3)), nat(3), sign(symmetric(3)), trivial(symmetric(3))],
    "D4": lambda: [regular(dihedral(4)), trivial(dihedral(4), 2)],
    "C6": lambda: [regular(cyclic(6)), trivial(cyclic(6))],
}


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(sorted(REP_POOL)), st.data())
def test_dimension_matches_characters_and_random_maps_commute(group_name, data):
    pool = REP_POOL[group_name]()
    idx = st.integers(0, len(pool) - 1)

    small = [r for r in pool if r.dim <= 3]

    def build():
        # Sizes stay <= 24 so that the dense [D, D] SVD (D = d_out * d_in) is quick.
        parts = [pool[data.draw(idx)] for _ in range(data.draw(st.integers(1, 2)))]
        rep = direct_sum(*parts)
        factors = [r for r in small if r.dim * rep.dim <= 24]
        if factors and data.draw(st.booleans()):
            rep = tensor_product(rep, data.draw(st.sampled_from(factors)))
        return rep

    rep_in, rep_out = build(), build()
    basis = equivariant_basis(rep_in, rep_out)
    assert basis.shape[0] == character_dimension(rep_in, rep_out)
    coeff = torch.randn(basis.shape[0], dtype=F64, generator=torch.Generator().manual_seed(3))
    w = torch.einsum("k,kij->ij", coeff, basis)
    # Every element, not just the generators the constraints were built from.
    for g in range(rep_in.group.order):
        torch.testing.assert_close(rep_out(g) @ w, w @ rep_in(g), atol=TOL, rtol=0)


def test_so2_vector_commutant():
    v = so2_vector()
    basis = equivariant_basis(v, v)
    assert basis.shape == (2, 2, 2)
    assert_orthonormal(basis)
    assert lie_residual(basis, v, v) < TOL
    rot = v.matrix_exp(torch.linspace(-3, 3, 7, dtype=F64))
    for b in basis:
        torch.testing.assert_close(rot @ b, b @ rot, atol=TOL, rtol=0)
    # Spanned by I and the generator J (complex multiplication).
    span = torch.stack([torch.eye(2, dtype=F64), v.generators[0]]).reshape(2, -1) / math.sqrt(2)
    flat = basis.reshape(2, -1)
    torch.testing.assert_close(span @ flat.T @ flat, span, atol=TOL, rtol=0)
    assert equivariant_basis(lie_trivial(SO2), v).shape == (0, 2, 1)


def test_so3_vector_to_vector_is_scalar_multiple_of_identity():
    v = so3_vector()
    basis = equivariant_basis(v, v)
    assert basis.shape == (1, 3, 3)
    torch.testing.assert_close(basis[0], torch.eye(3, dtype=F64) / math.sqrt(3), atol=TOL, rtol=0)


def _epsilon() -> torch.Tensor:
    eps = torch.zeros(3, 3, 3, dtype=F64)
    for i, j, k in itertools.permutations(range(3)):
        eps[i, j, k] = torch.linalg.det(torch.eye(3, dtype=F64)[[i, j, k]])
    return eps


def test_so3_cross_and_dot_products():
    v = so3_vector()
    vv = tensor_product(v, v)
    cross = equivariant_basis(vv, v)
    assert cross.shape == (1, 3, 9)
    assert lie_residual(cross, vv, v) < TOL
    c = equivariant_bilinear_basis(v)[0]
    torch.testing.assert_close(c.abs(), _epsilon().abs() / math.sqrt(6), atol=TOL, rtol=0)
    x, y = torch.randn(2, 3, dtype=F64, generator=torch.Generator().manual_seed(5))
    out = torch.einsum("oij,i,j->o", c, x, y)
    ratio = out / torch.linalg.cross(x, y)
    torch.testing.assert_close(ratio, ratio[0].expand(3))
    assert abs(abs(float(ratio[0])) - 1 / math.sqrt(6)) < TOL
    torch.testing.assert_close(cross[0], c.reshape(3, 9))

    dot = equivariant_basis(vv, lie_trivial(SO3))
    assert dot.shape == (1, 1, 9)
    expected = torch.eye(3, dtype=F64).reshape(1, 9) / math.sqrt(3)
    torch.testing.assert_close(dot[0].abs(), expected, atol=TOL, rtol=0)
    # Invariance under finite rotations, not only the algebra constraint.
    r = vv.matrix_exp(torch.tensor([0.4, -1.2, 2.0], dtype=F64))
    torch.testing.assert_close(dot[0] @ r, dot[0], atol=TOL, rtol=0)
    assert equivariant_basis(v, lie_trivial(SO3)).shape[0] == 0


def test_projector_and_projection():
    rep_in, rep_out = tensor_product(nat(3), nat(3)), nat(3)
    p = equivariant_projector(rep_in, rep_out)
    assert p.shape == (27, 27)
    torch.testing.assert_close(p, p.T, atol=TOL, rtol=0)
    torch.testing.assert_close(p @ p, p, atol=TOL, rtol=0)
    assert abs(float(torch.trace(p)) - 5) < TOL
    w = torch.randn(4, 3, 9, dtype=F64, generator=torch.Generator().manual_seed(7))
    pw = project_equivariant(w, rep_in, rep_out)
    assert pw.shape == w.shape
    torch.testing.assert_close(pw.reshape(4, 27), w.reshape(4, 27) @ p, atol=TOL, rtol=0)
    torch.testing.assert_close(project_equivariant(pw, rep_in, rep_out), pw, atol=TOL, rtol=0)
    basis = equivariant_basis(rep_in, rep_out)
    assert finite_residual(pw, rep_in, rep_out) < TOL
    torch.testing.assert_close(project_equivariant(basis, rep_in, rep_out), basis)
    # Differentiable and dtype-preserving, so it can serve as a layer.
    w32 = torch.randn(3, 9, requires_grad=True)
    out = project_equivariant(w32, rep_in, rep_out)
    assert out.dtype == torch.float32
    out.sum().backward()
    assert w32.grad is not None
    with pytest.raises(ValueError, match="W: expected shape"):
        project_equivariant(torch.zeros(3, 3), rep_in, rep_out)


def test_constraint_matrix_layout():
    rep = regular(cyclic(3))
    c = constraint_matrix(rep, rep)
    w = torch.randn(3, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    r = rep(1)
    # Row-major vec: C vec(W) = vec(rho(g) W rho(g)^-1 - W).
    torch.testing.assert_close(c @ w.reshape(-1), (r @ w @ r.T - w).reshape(-1))


def test_cache_hits_and_returns_independent_tensors():
    clear_cache()
    rep = regular(dihedral(4))
    first = equivariant_basis(rep, rep)
    assert cache_info() == {"hits": 0, "misses": 1, "size": 1}
    first.zero_()
    second = equivariant_basis(rep, rep)
    # A rebuilt but identical representation hits the same cache entry.
    third = equivariant_basis(regular(dihedral(4)), regular(dihedral(4)))
    assert cache_info() == {"hits": 2, "misses": 1, "size": 1}
    assert second.abs().sum() > 0
    torch.testing.assert_close(second, third, atol=0, rtol=0)
    assert second.data_ptr() != third.data_ptr()
    # Keys are digests of the matrices: the dual of a permutation rep has the same matrices.
    equivariant_basis(dual(rep), rep)
    assert cache_info()["hits"] == 3
    other = equivariant_basis(rep, direct_sum(rep, trivial(dihedral(4))))
    assert cache_info()["misses"] == 2 and other.shape == (8 + 1, 9, 8)
    clear_cache()
    assert cache_info() == {"hits": 0, "misses": 0, "size": 0}


def test_mismatched_groups_rejected():
    with pytest.raises(ValueError, match="rep_in, rep_out"):
        equivariant_basis(regular(cyclic(3)), regular(cyclic(4)))
    with pytest.raises(ValueError, match="rep_in, rep_out"):
        equivariant_basis(so3_vector(), so2_vector())
    with pytest.raises(TypeError, match="rep_in"):
        equivariant_basis("x", so2_vector())
    assert SO3 != SO2


PERMUTATION_PAIRS = {
    "D4-regular": (regular(dihedral(4)), regular(dihedral(4))),
    "S3-pairs-to-points": (tensor_product(nat(3), nat(3)), nat(3)),
    "C6-regular-to-trivial": (regular(cyclic(6)), trivial(cyclic(6), 2)),
    "S4-natural": (nat(4), nat(4)),
}


@pytest.mark.parametrize("key", list(PERMUTATION_PAIRS))
def test_orbit_and_svd_solvers_span_the_same_maps(key):
    rep_in, rep_out = PERMUTATION_PAIRS[key]
    orbits = equivariant_basis(rep_in, rep_out, solver="orbits")
    svd = equivariant_basis(rep_in, rep_out, solver="svd")
    assert orbits.shape == svd.shape
    assert orbits.shape[0] == character_dimension(rep_in, rep_out)
    assert_orthonormal(orbits)
    assert finite_residual(orbits, rep_in, rep_out) < TOL
    torch.testing.assert_close(equivariant_projector(rep_in, rep_out, solver="orbits"),
                               equivariant_projector(rep_in, rep_out, solver="svd"),
                               atol=TOL, rtol=0)
    # The orbit basis is made of scaled 0/1 indicators with disjoint supports.
    support = orbits != 0
    assert bool((support.sum(0) <= 1).all())
    torch.testing.assert_close(equivariant_basis(rep_in, rep_out), orbits, atol=0, rtol=0)


def test_bilinear_basis_of_a_permutation_rep_uses_orbits():
    rep = regular(cyclic(12))
    clear_cache()
    start = time.perf_counter()
    basis = equivariant_bilinear_basis(rep)
    assert time.perf_counter() - start < 1.0  # the SVD over 12³ unknowns took 0.8-2.6 s here
    assert basis.shape == (144, 12, 12, 12)
    # c[o, i, j] is constant on the orbits (o + g, i + g, j + g): a function of (i - o, j - o).
    for g in (1, 5):
        rolled = torch.roll(basis, shifts=(g, g, g), dims=(1, 2, 3))
        torch.testing.assert_close(rolled, basis, atol=0, rtol=0)


def test_solver_choice_errors():
    with pytest.raises(ValueError, match=r"rep_in: expected a permutation .*sign\(S3\)"):
        equivariant_basis(sign(symmetric(3)), nat(3), solver="orbits")
    with pytest.raises(ValueError, match="solver: expected one of"):
        equivariant_basis(nat(3), nat(3), solver="qr")
    # auto falls back to the SVD for linear representations
    assert equivariant_basis(sign(symmetric(3)), sign(symmetric(3))).shape == (1, 1, 1)


@pytest.mark.parametrize("rtol", [float("nan"), float("inf"), 0.0, -1.0, 0.5, 1e-300])
def test_rtol_is_a_finite_cutoff_in_its_range_everywhere(rtol):
    rep = so3_vector()
    message = r"^rtol: expected a finite number >= 1e-14 and <= 0\.0001, received "
    # rtol=nan once returned 9 "equivariant" maps of a 3-dimensional space to itself.
    with pytest.raises(ValueError, match=message):
        equivariant_basis(rep, rep, rtol)
    with pytest.raises(ValueError, match=message):
        equivariant_projector(rep, rep, rtol)
    with pytest.raises(ValueError, match=message):
        project_equivariant(torch.eye(3, dtype=F64), rep, rep, rtol)
    with pytest.raises(ValueError, match=message):
        equivariant_bilinear_basis(rep, rtol)


def test_rtol_of_the_wrong_kind_is_refused():
    rep = so3_vector()
    for rtol in ("1e-9", True, None):
        with pytest.raises(TypeError, match=r"^rtol: expected a real number"):
            equivariant_basis(rep, rep, rtol)  # type: ignore[arg-type]
    assert equivariant_basis(rep, rep, 1e-6).shape == (1, 3, 3)


def test_projector_onto_no_equivariant_maps_is_zero():
    c3 = cyclic(3)
    th = 2 * math.pi / 3
    rot = torch.tensor([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]], dtype=F64)
    rotation = Representation.from_matrices(c3, torch.stack([torch.eye(2, dtype=F64), rot,
                                                             rot @ rot]))
    assert equivariant_basis(rotation, trivial(c3, 2)).shape == (0, 2, 2)
    assert torch.equal(equivariant_projector(rotation, trivial(c3, 2)),
                       torch.zeros(4, 4, dtype=F64))


def test_projection_refuses_integer_maps_and_bad_representations():
    rep = regular(cyclic(3))
    with pytest.raises(TypeError, match=r"^W: expected dtype float16, bfloat16, float32, float64, "
                                        r"received torch.int64$"):
        project_equivariant(torch.ones(3, 3, dtype=torch.long), rep, rep)
    with pytest.raises(TypeError, match=r"^W: expected a torch.Tensor"):
        project_equivariant([[1.0]], rep, rep)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^rep: expected a Representation, received NoneType"):
        equivariant_bilinear_basis(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^solver: expected one of 'auto', 'svd', 'orbits', "
                                         r"received 3$"):
        equivariant_basis(rep, rep, solver=3)  # type: ignore[arg-type]


def test_choose_solver_checks_the_symmetries():
    rep = regular(cyclic(3))
    assert choose_solver({0: rep}) == "orbits" and choose_solver([{0: rep}], "svd") == "svd"
    with pytest.raises(TypeError, match=r"^symmetries: expected a mapping .* received str$"):
        choose_solver("orbits")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^symmetries: expected a mapping .* received NoneType$"):
        choose_solver(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^symmetries: expected at least one symmetry"):
        choose_solver([])


def test_solver_working_memory_is_refused_with_the_estimate(monkeypatch):
    wide = trivial(cyclic(2), 1000)
    with pytest.raises(ValueError, match=r"^rep_in, rep_out: expected a size for which working "
                                         r"memory of the SVD solver for 1,000,000 unknowns and "
                                         r"1 generators fits in .* about 29\.1 TiB$"):
        equivariant_basis(wide, wide, solver="svd")
    with pytest.raises(ValueError, match=r"^rep_in, rep_out: expected a size for which constraint "
                                         r"matrix on 1,000,000 unknowns"):
        constraint_matrix(wide, wide)
    with pytest.raises(ValueError, match=r"^rep: expected a size for which working memory of the "
                                         r"SVD solver for 216,000 unknowns .* TiB$"):
        equivariant_bilinear_basis(trivial(cyclic(2), 60), solver="svd")
    monkeypatch.setenv("PRODINT_MAX_BYTES", str(1 << 40))  # a machine budget above 1 GiB
    big = trivial(cyclic(2), 300)
    with pytest.raises(ValueError, match=r"^rep_in, rep_out: expected a size for which dense basis "
                                         r"of 90,000 orbits over 90,000 index pairs \(max_bytes\)"
                                         r" fits in 1\.0 GiB, .* about 60\.3 GiB$"):
        equivariant_basis(big, big)  # the orbits are found, their dense basis is too large
