"""assert_equivariant: passes on true symmetries, fails on broken ones, validates arguments."""

import pytest
import torch

from prodint.algebra import LearnedAlgebra, group_algebra
from prodint.groups import (
    cyclic,
    dihedral,
    permutation,
    regular,
    so2_vector,
    so3_vector,
    symmetric,
    symmetric_permutations,
)
from prodint.testing import assert_equivariant, default_tolerance

F64 = torch.float64


def randn(*shape: int, dtype: torch.dtype = F64, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_constrained_learned_algebra_passes(dtype: torch.dtype) -> None:
    rep = regular(dihedral(4))
    alg = LearnedAlgebra(8, symmetry=rep, mode="constrained").to(dtype)
    x, y = randn(5, 8, dtype=dtype), randn(5, 8, dtype=dtype, seed=1)
    error = assert_equivariant(alg.mul, (x, y), rep, rep)
    assert 0.0 <= error <= 100 * default_tolerance(dtype)


def test_free_learned_algebra_fails_and_names_the_element() -> None:
    rep = regular(cyclic(4))
    alg = LearnedAlgebra(4, symmetry=rep, generator=torch.Generator().manual_seed(0)).double()
    x, y = randn(3, 4), randn(3, 4, seed=1)
    with pytest.raises(AssertionError, match=r"not equivariant; worst at element [123] \(r"):
        assert_equivariant(alg.mul, (x, y), rep, rep)
    # The identity alone is always fine.
    assert assert_equivariant(alg.mul, (x, y), rep, rep, elements=[0]) == 0.0


def test_cross_product_is_so3_equivariant_and_dot_product_invariant() -> None:
    rep = so3_vector()
    x, y = randn(6, 3), randn(6, 3, seed=1)
    assert assert_equivariant(torch.linalg.cross, (x, y), rep, rep) < 1e-12
    dot = lambda a, b: (a * b).sum(-1, keepdim=True)  # noqa: E731
    assert assert_equivariant(dot, (x, y), rep, None) < 1e-12
    t = torch.tensor([[0.3, -1.0, 2.0], [1.0, 0.0, 0.0]])
    assert assert_equivariant(torch.linalg.cross, (x, y), rep, rep, elements=t) < 1e-12


def test_sin_is_not_rotation_equivariant() -> None:
    rep = so3_vector()
    with pytest.raises(AssertionError, match=r"worst at exp\(t·X\) with t = \["):
        assert_equivariant(torch.sin, (randn(4, 3),), rep, rep)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(torch.sin, randn(4, 2), so2_vector(), so2_vector(), n_samples=2)


def test_group_algebra_left_translation_of_the_first_factor() -> None:
    # In R[G], (e_g x) y = e_g (x y) by associativity, and ρ_reg(g) x = e_g x: translating the
    # first factor translates the product, for every group. Translating the second factor
    # does so only when G is abelian.
    for group in [cyclic(5), dihedral(3)]:
        alg, rep = group_algebra(group).double(), regular(group)
        x, y = randn(4, group.order), randn(4, group.order, seed=1)
        assert assert_equivariant(alg.mul, (x, y), [rep, None], rep) < 1e-12
    assert assert_equivariant(alg.mul, (x, y), [None, rep], rep, elements=[0]) == 0.0
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(alg.mul, (x, y), [None, rep], rep)
    c5, rep5 = group_algebra(cyclic(5)).double(), regular(cyclic(5))
    x5, y5 = randn(4, 5), randn(4, 5, seed=1)
    assert assert_equivariant(c5.mul, (x5, y5), [None, rep5], rep5) < 1e-12


def test_custom_actions_abelian_group_algebra_gets_rho_squared() -> None:
    # Translating both factors of a commutative group algebra by g translates the product by g².
    group = cyclic(6)
    alg, rep = group_algebra(group).double(), regular(group)
    mats = rep.matrices

    def act(g: int, t: torch.Tensor) -> torch.Tensor:
        return t @ mats[g].T

    def act_twice(g: int, t: torch.Tensor) -> torch.Tensor:
        return t @ (mats[g] @ mats[g]).T

    x, y = randn(3, 6), randn(3, 6, seed=1)
    elements = list(range(6))
    assert assert_equivariant(alg.mul, (x, y), actions_in=act, action_out=act_twice,
                              elements=elements) < 1e-12
    with pytest.raises(AssertionError, match=r"elements\[\d\] = \d"):
        assert_equivariant(alg.mul, (x, y), actions_in=act, action_out=act, elements=elements)


def test_custom_actions_on_image_grids() -> None:
    # A periodic 5-point Laplacian commutes with quarter turns of the grid; a one-sided
    # difference does not. Blurring to the mean is invariant.
    def laplacian(u: torch.Tensor) -> torch.Tensor:
        shifts = [torch.roll(u, s, d) for s in (1, -1) for d in (-1, -2)]
        return sum(shifts) - 4 * u

    def rotate(k: int, u: torch.Tensor) -> torch.Tensor:
        return torch.rot90(u, k, dims=(-2, -1))

    u = randn(2, 7, 7)
    turns = [0, 1, 2, 3]
    assert assert_equivariant(laplacian, (u,), actions_in=rotate, action_out=rotate,
                              elements=turns) < 1e-12
    mean = lambda v: v.mean(dim=(-2, -1))  # noqa: E731
    assert assert_equivariant(mean, (u,), actions_in=[rotate], elements=turns) < 1e-12
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda v: torch.roll(v, 1, -1) - v, (u,), actions_in=rotate,
                           action_out=rotate, elements=turns)


def test_permutation_equivariant_map_on_points() -> None:
    rep = permutation(symmetric(3), symmetric_permutations(3))

    def deep_set(x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(2.0 * x + x.sum(-1, keepdim=True))

    assert assert_equivariant(deep_set, randn(5, 3), rep, rep) < 1e-12
    with pytest.raises(AssertionError):
        assert_equivariant(lambda x: x.cumsum(-1), randn(5, 3), rep, rep)


def test_tolerances_are_relative_to_the_output_scale() -> None:
    rep = so3_vector()
    x, y = 1e6 * randn(4, 3), 1e6 * randn(4, 3, seed=1)
    assert assert_equivariant(torch.linalg.cross, (x, y), rep, rep) > 0
    with pytest.raises(AssertionError):
        assert_equivariant(torch.linalg.cross, (x, y), rep, rep, rtol=0.0)


def test_argument_validation() -> None:
    rep, rep3 = regular(cyclic(4)), so3_vector()
    x = randn(2, 4)
    cases = [
        (dict(fn=3, args=(x,), rep_in=rep), TypeError, "fn: expected a callable"),
        (dict(fn=torch.sin, args=[1.0], rep_in=rep), TypeError, r"args\[0\]"),
        (dict(fn=torch.sin, args="x", rep_in=rep), TypeError, "args: expected a tuple"),
        (dict(fn=torch.sin, args=(), rep_in=rep), ValueError, "args: expected at least one"),
        (dict(fn=torch.sin, args=(torch.ones(2, 4, dtype=torch.long),), rep_in=rep),
         TypeError, "floating"),
        (dict(fn=torch.sin, args=(x,)), TypeError, "rep_in: expected a Representation"),
        (dict(fn=torch.sin, args=(x,), rep_in=3), TypeError, "rep_in"),
        (dict(fn=torch.sin, args=(x,), rep_in=[rep, rep]), ValueError, "rep_in: expected 1"),
        (dict(fn=torch.sin, args=(x,), rep_in=[None]), ValueError, "at least one Repr"),
        (dict(fn=torch.sin, args=(randn(2, 3),), rep_in=rep), ValueError,
         r"args\[0\]: expected last dimension 4"),
        (dict(fn=torch.sin, args=(x,), rep_in=rep, rep_out=regular(cyclic(2))), ValueError,
         "rep_out: expected a representation of C4"),
        (dict(fn=torch.sin, args=(x,), rep_in=rep, rep_out="r"), TypeError, "rep_out"),
        (dict(fn=lambda a: a[..., :2], args=(x,), rep_in=rep, rep_out=rep), ValueError,
         "rep_out: fn's output has shape"),
        (dict(fn=lambda a: 1.0, args=(x,), rep_in=rep), TypeError, "fn: expected to return"),
        (dict(fn=torch.sin, args=(x,), rep_in=rep, elements=[4]), ValueError, "elements"),
        (dict(fn=torch.sin, args=(x,), rep_in=rep, elements=[]), ValueError, "elements"),
        (dict(fn=torch.sin, args=(randn(2, 3),), rep_in=rep3, n_samples=0), ValueError,
         "n_samples"),
        (dict(fn=torch.sin, args=(randn(2, 3),), rep_in=rep3, elements=[[1.0, 2.0]]),
         ValueError, r"elements: expected Lie-algebra coordinates of shape \[s, 3\]"),
        (dict(fn=torch.sin, args=(x,), rep_in=rep, atol=-1.0), ValueError, "atol"),
        (dict(fn=torch.sin, args=(x,), rep_in=rep, rtol="big"), TypeError, "rtol"),
        (dict(fn=torch.sin, args=(x,), rep_in=rep, actions_in=torch.neg), ValueError,
         "not both"),
        (dict(fn=torch.sin, args=(x,), actions_in=lambda g, t: t), ValueError,
         "elements: actions_in needs"),
        (dict(fn=torch.sin, args=(x,), actions_in=[3], elements=[0]), TypeError,
         r"actions_in\[0\]"),
        (dict(fn=torch.sin, args=(x,), actions_in=lambda g, t: t, action_out=1, elements=[0]),
         TypeError, "action_out"),
        (dict(fn=torch.sin, args=(x,), rep_in=rep, action_out=lambda g, t: t), ValueError,
         "action_out: only used together with actions_in"),
    ]
    for kwargs, err, match in cases:
        with pytest.raises(err, match=match):
            assert_equivariant(**kwargs)


def test_a_function_returning_nan_fails_instead_of_passing() -> None:
    rep = regular(cyclic(3))
    x = randn(2, 3)
    nan = lambda a: torch.full_like(a, float("nan"))  # noqa: E731
    with pytest.raises(AssertionError, match=r"assert_equivariant: fn returned a non-finite "
                                             r"output \(NaN or inf\) for finite input args"):
        assert_equivariant(nan, (x,), rep, rep)
    calls: list[torch.Tensor] = []

    def finite_once(a: torch.Tensor) -> torch.Tensor:  # finite on args, not on g · args
        calls.append(a)
        return a if len(calls) == 1 else a / 0.0

    with pytest.raises(AssertionError, match=r"non-finite output .* g · args at element 1"):
        assert_equivariant(finite_once, (x,), rep, rep, elements=[1])
    with pytest.raises(AssertionError, match=r"non-finite"):
        assert_equivariant(lambda a: a / 0.0, (x,), actions_in=lambda g, t: t.roll(g, -1),
                           action_out=lambda g, t: t.roll(g, -1), elements=[1, 2])


def test_inputs_samples_and_dtypes_are_checked() -> None:
    rep = so3_vector()
    x = randn(2, 3)
    x[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"args\[1\]: expected finite values"):
        assert_equivariant(torch.linalg.cross, (randn(2, 3), x), rep, rep)
    with pytest.raises(ValueError, match=r"args\[1\]: expected a tensor on cpu \(that of args"):
        assert_equivariant(torch.linalg.cross, (randn(2, 3), randn(2, 3).to("meta")), rep, rep)
    with pytest.raises(ValueError, match=r"n_samples: expected at most 10,000 random group "):
        assert_equivariant(torch.sin, (randn(2, 3),), rep, rep, n_samples=2**40)
    with pytest.raises(TypeError, match=r"n_samples: expected an int, received 2\.0"):
        assert_equivariant(torch.sin, (randn(2, 3),), regular(cyclic(3)), n_samples=2.0)
    with pytest.raises(ValueError, match=r"elements: expected finite values"):
        assert_equivariant(torch.sin, (randn(2, 3),), rep, rep, elements=[[float("nan")] * 3])
    with pytest.raises(ValueError, match=r"elements: expected Lie-algebra coordinates"):
        assert_equivariant(torch.sin, (randn(2, 3),), rep, rep, elements=["a", "b"])
    with pytest.raises(ValueError, match=r"elements: actions_in needs"):
        assert_equivariant(torch.sin, (randn(2, 3),), actions_in=lambda g, t: t, elements=3)
    with pytest.raises(TypeError, match=r"dtype: expected a torch\.dtype, received str"):
        default_tolerance("float64")
