"""LearnedAlgebra: exact equivariance when constrained, the penalty, initialisation, errors."""

import math

import pytest
import torch

from prodint.algebra import Algebra, LearnedAlgebra, quaternions
from prodint.algebra.learned import LEGS
from prodint.groups import (
    Representation,
    cyclic,
    dihedral,
    equivariant_bilinear_basis,
    permutation,
    regular,
    so3_vector,
    symmetric,
    symmetric_permutations,
    trivial,
)

F64 = torch.float64


def square_vertices() -> Representation:
    """D4 on the vertices 0..3 of a square: r^k s^f sends vertex i to k + (-1)^f i mod 4."""
    idx = torch.arange(8)
    k, f = idx % 4, idx // 4
    perm = (k[:, None] + (1 - 2 * f[:, None]) * torch.arange(4)[None, :]) % 4
    return permutation(dihedral(4), perm)


SYMMETRIES = {
    "C4-regular": lambda: regular(cyclic(4)),
    "D4-regular": lambda: regular(dihedral(4)),
    "D4-square": square_vertices,
    "S3-points": lambda: permutation(symmetric(3), symmetric_permutations(3)),
}


def make(rep: Representation, mode: str, seed: int = 0, dtype=F64) -> LearnedAlgebra:
    gen = torch.Generator().manual_seed(seed)
    return LearnedAlgebra(rep.dim, symmetry=rep, mode=mode, generator=gen).to(dtype)


def equivariance_residual(alg: LearnedAlgebra, rep: Representation, seed: int = 1) -> float:
    """max over EVERY g of |mul(ρ(g)x, ρ(g)y) - ρ(g) mul(x, y)| on a batch of random x, y."""
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(2, 16, rep.dim, generator=gen, dtype=alg.dtype)
    mats = rep.matrices.to(alg.dtype)  # [|G|, n, n]
    with torch.no_grad():
        gx = torch.einsum("gij,bj->gbi", mats, x)
        gy = torch.einsum("gij,bj->gbi", mats, y)
        lhs = alg.mul(gx, gy)
        rhs = torch.einsum("gij,bj->gbi", mats, alg.mul(x, y))
    return float((lhs - rhs).abs().max())


@pytest.mark.parametrize("key", list(SYMMETRIES))
def test_constrained_is_equivariant_for_every_element(key: str) -> None:
    rep = SYMMETRIES[key]()
    alg = make(rep, "constrained")
    assert equivariance_residual(alg, rep) <= 1e-12
    assert alg.is_equivariant()
    # Training on a loss that ignores the symmetry cannot break it.
    gen = torch.Generator().manual_seed(2)
    x, y, target = torch.randn(3, 32, rep.dim, generator=gen, dtype=F64)
    opt = torch.optim.Adam(alg.parameters(), lr=0.1)
    before = alg.theta.detach().clone()
    for _ in range(5):
        opt.zero_grad()
        loss = ((alg.mul(x, y) - target) ** 2).mean()
        loss.backward()
        opt.step()
    assert not torch.equal(before, alg.theta.detach())
    assert equivariance_residual(alg, rep) <= 1e-12
    assert alg.is_equivariant()
    assert float(alg.symmetry_penalty().detach()) == 0.0


def test_constrained_parameters_are_one_coefficient_per_orbit() -> None:
    # Γ[a, b, c] = θ[orbit of (a, b, c)], C4 moving all three legs: (a, b, c) ~ (a+g, b+g, c+g).
    # Each orbit meets a = 0 once, so the orbits in order of first appearance are the (0, b, c).
    rep = regular(cyclic(4))
    alg = make(rep, "constrained")
    assert alg.theta.shape == (16,)
    assert [name for name, _ in alg.named_parameters()] == ["theta"]
    gamma = alg.structure_constants.detach()
    assert torch.equal(gamma[0].reshape(-1), alg.theta.detach())
    for g in range(4):
        assert torch.equal(torch.roll(gamma, (g, g, g), (0, 1, 2)), gamma)
    assert "ties" not in alg.state_dict() and "basis" not in alg.state_dict()
    # The orthonormal basis spans the same space as the SVD solver's.
    svd = equivariant_bilinear_basis(rep, solver="svd").permute(0, 2, 3, 1).reshape(16, -1)
    ours = alg.basis.reshape(16, -1)
    torch.testing.assert_close(ours.T @ ours, svd.T @ svd, rtol=0, atol=1e-12)


def test_lie_symmetry_is_a_basis_expansion() -> None:
    rep = so3_vector()
    alg = make(rep, "constrained")
    assert alg.ties is None and alg.leg_basis.shape == (1, 3, 3, 3)
    expected = torch.einsum("k,kabc->abc", alg.theta.detach(), alg.leg_basis)
    torch.testing.assert_close(alg.structure_constants.detach(), expected, rtol=0, atol=1e-15)
    c = equivariant_bilinear_basis(rep)[0].permute(1, 2, 0)  # c[o, i, j] -> Γ[i, j, o]
    torch.testing.assert_close(alg.leg_basis[0].abs(), c.abs(), rtol=0, atol=1e-12)


def reynolds(gamma: torch.Tensor, rep: Representation, legs: str) -> torch.Tensor:
    """The average of g · Γ over the group, g moving only ``legs`` (the projection P_G)."""
    mats = rep.matrices
    total = torch.zeros_like(gamma)
    for m in mats:
        moved = gamma
        if "a" in legs:
            moved = torch.einsum("abc,ia->ibc", moved, m)
        if "b" in legs:
            moved = torch.einsum("abc,jb->ajc", moved, m)
        if "c" in legs:
            moved = torch.einsum("abc,kc->abk", moved, m)
        total += moved
    return total / len(mats)


def group_algebra_gamma(n: int) -> torch.Tensor:
    g = torch.zeros(n, n, n, dtype=F64)
    for a in range(n):
        for b in range(n):
            g[a, b, (a + b) % n] = 1.0
    return g


def fit_residual(alg: LearnedAlgebra, target: torch.Tensor) -> float:
    """Least-squares fit of Γ(θ) to ``target``: ||Γ(θ*) - target|| / ||target||."""
    theta = alg.theta.detach()
    columns = []
    for unit in torch.eye(theta.numel(), dtype=F64):
        with torch.no_grad():
            alg.theta.copy_(unit.view_as(theta))
        columns.append(alg.structure_constants.detach().reshape(-1))
    jacobian = torch.stack(columns, 1)
    best = torch.linalg.lstsq(jacobian, target.reshape(-1, 1)).solution
    return float((jacobian @ best - target.reshape(-1, 1)).norm() / target.norm())


def test_right_legs_contain_the_group_algebra_all_legs_do_not() -> None:
    n = 12
    rep = regular(cyclic(n))
    target = group_algebra_gamma(n)
    right = make(rep, "constrained").__class__(n, symmetry=rep, mode="constrained",
                                               legs=("b", "c")).double()
    every = make(rep, "constrained")
    assert right.theta.shape == (12, 12) and every.theta.shape == (144,)
    assert fit_residual(right, target) < 1e-12
    # All legs: each orbit (a+g, b+g, a+b+g) holds one 1 of the table in 12 entries, so the
    # projection keeps 1/12 of the norm²: residual sqrt(11/12) = 0.957.
    assert abs(fit_residual(every, target) - math.sqrt(11 / 12)) < 1e-12
    for legs, equivariant in ((("b", "c"), True), (("a", "c"), True), (LEGS, False)):
        alg = LearnedAlgebra(n, symmetry=rep, mode="regularized", legs=legs).double()
        with torch.no_grad():
            alg.gamma.copy_(target)
        assert alg.is_equivariant() is equivariant, legs
        assert (float(alg.symmetry_penalty().detach()) < 1e-20) is equivariant


@pytest.mark.parametrize("legs", ["bc", "ac", "ab", "c"])
@pytest.mark.parametrize("key", ["D4-regular", "S3-points"])
def test_partial_legs_penalty_is_the_group_average(legs: str, key: str) -> None:
    rep = SYMMETRIES[key]()
    alg = LearnedAlgebra(rep.dim, symmetry=rep, mode="regularized", legs=tuple(legs),
                         generator=torch.Generator().manual_seed(4)).double()
    gamma = alg.gamma.detach().clone()
    residual = gamma - reynolds(gamma, rep, legs)
    torch.testing.assert_close(float(alg.symmetry_penalty().detach()),
                               float((residual**2).sum()), rtol=1e-10, atol=0)
    constrained = LearnedAlgebra(rep.dim, symmetry=rep, mode="constrained",
                                 legs=tuple(legs)).double()
    g = constrained.structure_constants.detach()
    torch.testing.assert_close(reynolds(g, rep, legs), g, rtol=0, atol=1e-12)
    assert constrained.is_equivariant()
    # The coefficient count is the dimension of the invariant space, by characters: the mean
    # over g of Π over moved legs of tr ρ(g) (real permutation characters, χ(g⁻¹) = χ(g)),
    # times n for each leg left alone.
    chi = rep.matrices.diagonal(dim1=1, dim2=2).sum(-1)
    dimension = float((chi ** len(legs)).mean()) * rep.dim ** (3 - len(legs))
    assert constrained.theta.numel() == round(dimension)


def independent_penalty(gamma: torch.Tensor, rep: Representation) -> float:
    b = equivariant_bilinear_basis(rep).permute(0, 2, 3, 1)  # Γ layout, orthonormal
    coeff = torch.einsum("kabc,abc->k", b, gamma)
    residual = gamma - torch.einsum("k,kabc->abc", coeff, b)
    return float((residual**2).sum())


@pytest.mark.parametrize("key", list(SYMMETRIES))
def test_penalty_zero_on_subspace_and_positive_off_it(key: str) -> None:
    rep = SYMMETRIES[key]()
    alg = make(rep, "regularized")
    gamma = alg.gamma.detach().clone()
    penalty = alg.symmetry_penalty().detach()
    assert penalty.shape == ()
    assert float(penalty) > 1e-3 * float((gamma**2).sum())
    torch.testing.assert_close(
        float(penalty), independent_penalty(gamma, rep), rtol=1e-10, atol=0
    )
    assert not alg.is_equivariant()
    alg.project_()
    norm = float((alg.gamma.detach() ** 2).sum())
    assert float(alg.symmetry_penalty().detach()) <= 1e-20 * norm
    assert equivariance_residual(alg, rep) <= 1e-12
    assert alg.is_equivariant()


def test_penalty_is_differentiable_with_gradient_twice_the_residual() -> None:
    rep = regular(cyclic(4))
    alg = make(rep, "regularized")
    alg.symmetry_penalty().backward()
    gamma = alg.gamma.detach()
    projected = make(rep, "regularized")
    with torch.no_grad():
        projected.gamma.copy_(gamma)
    projected.project_()
    torch.testing.assert_close(alg.gamma.grad, 2 * (gamma - projected.gamma.detach()))


def test_regularized_training_with_penalty_reaches_the_subspace() -> None:
    rep = regular(dihedral(4))
    alg = make(rep, "regularized")
    start = float(alg.symmetry_penalty().detach())
    target = alg.gamma.detach().clone()
    opt = torch.optim.SGD(alg.parameters(), lr=0.25)
    for _ in range(30):
        opt.zero_grad()
        alg.symmetry_penalty().backward()
        opt.step()
    assert float(alg.symmetry_penalty().detach()) < 1e-12 * start
    assert alg.is_equivariant(atol=1e-6)
    # Gradient steps only remove the non-equivariant part: the projection is unchanged.
    ref = make(rep, "regularized")
    with torch.no_grad():
        ref.gamma.copy_(target)
    ref.project_()
    torch.testing.assert_close(alg.gamma.detach(), ref.gamma.detach(), rtol=0, atol=1e-8)


def test_free_mode() -> None:
    alg = LearnedAlgebra(5, generator=torch.Generator().manual_seed(0)).double()
    assert alg.mode == "free" and alg.symmetry is None and alg.basis is None
    assert alg.gamma.shape == (5, 5, 5) and alg.theta is None
    with pytest.raises(ValueError, match="symmetry"):
        alg.symmetry_penalty()
    with pytest.raises(ValueError, match="symmetry"):
        alg.is_equivariant()
    rep = regular(cyclic(4))
    monitored = make(rep, "free")
    assert float(monitored.symmetry_penalty().detach()) > 0
    assert not monitored.is_equivariant()
    assert equivariance_residual(monitored, rep) > 1e-3


@pytest.mark.parametrize("mode", ["free", "regularized", "constrained"])
def test_mul_matches_einsum_broadcasts_and_propagates_gradients(mode: str) -> None:
    rep = regular(cyclic(4))
    alg = make(rep, mode)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 1, 4, generator=gen, dtype=F64)
    y = torch.randn(1, 3, 4, generator=gen, dtype=F64)
    out = alg(x, y)
    assert out.shape == (5, 3, 4)
    gamma = alg.structure_constants
    assert gamma.shape == (4, 4, 4) and gamma.requires_grad
    expected = torch.einsum("...a,...b,abc->...c", x, y, gamma)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-13)
    assert alg.mul(x[0, 0], y[0, 0]).shape == (4,)
    out.square().sum().backward()
    for _, p in alg.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_to_algebra_snapshot() -> None:
    rep = regular(cyclic(4))
    alg = make(rep, "constrained")
    fixed = alg.to_algebra()
    assert isinstance(fixed, Algebra) and fixed.dim == 4 and fixed.name == alg.name
    assert fixed.basis_names == alg.basis_names
    torch.testing.assert_close(fixed.structure_constants, alg.structure_constants.detach())
    x, y = torch.randn(2, 7, 4, dtype=F64)
    before = fixed.mul(x, y)
    torch.testing.assert_close(before, alg.mul(x, y).detach())
    with torch.no_grad():
        alg.theta.add_(1.0)
    torch.testing.assert_close(fixed.mul(x, y), before, rtol=0, atol=0)
    assert not torch.allclose(before, alg.mul(x, y).detach())


def test_float32_and_dtype_moves(dtype: torch.dtype, tol: float) -> None:
    rep = permutation(symmetric(3), symmetric_permutations(3))
    alg = make(rep, "constrained", dtype=dtype)
    assert alg.dtype == dtype and alg.basis.dtype == dtype and alg.device.type == "cpu"
    assert equivariance_residual(alg, rep) <= 100 * tol
    assert alg.is_equivariant()
    x = torch.randn(4, 3, dtype=dtype)
    assert alg.mul(x, x).dtype == dtype
    other = torch.float32 if dtype == F64 else F64
    with pytest.raises(TypeError, match="dtype"):
        alg.mul(x.to(other), x.to(other))


def sample_outputs(make_algebra, n: int, algebras: int, samples: int) -> torch.Tensor:
    """``[algebras, samples, n]`` products of fresh standard normal x, y per fresh algebra."""
    gen = torch.Generator().manual_seed(0)
    outs = []
    for _ in range(algebras):
        alg = make_algebra(gen).double()
        x, y = torch.randn(2, samples, n, generator=gen, dtype=F64)
        with torch.no_grad():
            outs.append(alg.mul(x, y))
    return torch.stack(outs)


def test_variance_preserving_init_free() -> None:
    # Per coordinate, E[out²] = E[Σ_ab Γ_abc²] = n² / n² = 1; the tolerances are about five
    # standard errors of the Monte-Carlo estimate (fixed seed, so the test is deterministic).
    n = 6
    out = sample_outputs(lambda gen: LearnedAlgebra(n, generator=gen), n, 500, 100)
    per_coordinate = out.pow(2).mean(dim=(0, 1))
    assert torch.allclose(per_coordinate, torch.ones(n, dtype=F64), atol=0.1)
    assert abs(float(out.pow(2).mean()) - 1.0) < 0.05


@pytest.mark.parametrize(
    "make_rep",
    [lambda: regular(cyclic(4)), lambda: permutation(symmetric(3), symmetric_permutations(3)),
     so3_vector],
    ids=["C4-regular", "S3-points", "SO3-vector"],
)
def test_variance_preserving_init_constrained(make_rep) -> None:
    rep = make_rep()
    n = rep.dim
    out = sample_outputs(
        lambda gen: LearnedAlgebra(n, symmetry=rep, mode="constrained", generator=gen),
        n, 2000, 50,
    )
    # Transitive permutations and irreducible orthogonal reps: every coordinate gets variance 1.
    per_coordinate = out.pow(2).mean(dim=(0, 1))
    assert torch.allclose(per_coordinate, torch.ones(n, dtype=F64), atol=0.15)


def test_deepcopy_shares_the_symmetry_and_copies_the_parameters() -> None:
    import copy

    rep = regular(cyclic(4))
    alg = make(rep, "regularized")
    twin = copy.deepcopy(alg)
    assert twin.symmetry is rep and twin.mode == "regularized"
    torch.testing.assert_close(twin.gamma, alg.gamma)
    with torch.no_grad():
        twin.gamma.zero_()
    assert alg.gamma.detach().abs().sum() > 0
    assert twin.basis is not alg.basis and twin.basis.dtype == F64


def test_init_std_and_generator_reproducibility() -> None:
    a = LearnedAlgebra(4, init_std=2.0, generator=torch.Generator().manual_seed(5))
    b = LearnedAlgebra(4, init_std=2.0, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a.gamma, b.gamma)
    assert 1.5 < float(a.gamma.detach().std()) < 2.5


def test_lie_symmetry_gives_the_cross_product() -> None:
    rep = so3_vector()
    alg = make(rep, "constrained")
    assert alg.theta.shape == (1,) and alg.is_equivariant()
    x, y = torch.randn(2, 5, 3, dtype=F64)
    cross = torch.linalg.cross(x, y)
    ratio = alg.mul(x, y).detach() / cross
    torch.testing.assert_close(ratio, ratio[0, 0].expand_as(ratio))
    free = make(rep, "free")
    assert not free.is_equivariant() and float(free.symmetry_penalty().detach()) > 0
    free.project_()
    assert free.is_equivariant()


def test_no_equivariant_products_gives_zero_algebra() -> None:
    from prodint.groups import sign

    rep = sign(symmetric(3))  # x y is invariant, but the output must change sign: only 0.
    alg = LearnedAlgebra(1, symmetry=rep, mode="constrained")
    assert alg.theta.shape == (0,)
    assert torch.equal(alg.structure_constants, torch.zeros(1, 1, 1))
    assert alg.is_equivariant()


def test_interface_like_algebra() -> None:
    alg = LearnedAlgebra(3, name="L", basis_names=["a", "b", "c"])
    assert alg.name == "L" and alg.basis_names == ["a", "b", "c"] and alg.dim == 3
    assert "mode=free" in repr(alg)
    x = torch.randn(3)
    for bad, err, match in [
        ([1.0, 2.0, 3.0], TypeError, "x: expected a torch.Tensor"),
        (torch.randn(4), ValueError, "last dimension is the algebra dimension 3"),
        (torch.tensor(1.0), ValueError, "received shape"),
    ]:
        with pytest.raises(err, match=match):
            alg.mul(bad, x)
    with pytest.raises(ValueError, match="y: expected"):
        alg.mul(x, torch.randn(2))


def test_constructor_errors() -> None:
    rep = regular(cyclic(4))
    with pytest.raises(ValueError, match=r"symmetry: expected a representation of dimension 5"):
        LearnedAlgebra(5, symmetry=rep, mode="constrained")
    with pytest.raises(ValueError, match=r"received regular\(C4\) of dimension 4"):
        LearnedAlgebra(3, symmetry=rep)
    with pytest.raises(TypeError, match=r"symmetry: expected a prodint\.groups\.Representation"):
        LearnedAlgebra(4, symmetry=quaternions(), mode="constrained")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode: expected one of"):
        LearnedAlgebra(4, symmetry=rep, mode="soft")
    for mode in ["regularized", "constrained"]:
        with pytest.raises(ValueError, match=f"symmetry: mode '{mode}' needs a representation"):
            LearnedAlgebra(4, mode=mode)
    with pytest.raises(ValueError, match="dim: expected a positive int"):
        LearnedAlgebra(0)
    with pytest.raises(ValueError, match="init_std"):
        LearnedAlgebra(4, init_std=-1.0)
    with pytest.raises(TypeError, match="generator"):
        LearnedAlgebra(4, generator=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="basis_names"):
        LearnedAlgebra(4, basis_names=["a"])
    for legs in [(), ("a", "d"), ("c", "c"), "bc"]:
        with pytest.raises(ValueError, match="legs: expected a non-empty subset"):
            LearnedAlgebra(4, symmetry=rep, mode="constrained", legs=legs)
    assert LearnedAlgebra(2, symmetry=trivial(cyclic(3), 2), mode="constrained").is_equivariant()
