"""constrain: tie tables and bases in expressions, exact equivariance, counts, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from prodint.groups import (
    cyclic,
    dihedral,
    grid_rotations,
    grid_translations,
    permutation,
    regular,
    sign,
    so3_vector,
    symmetric,
    symmetric_permutations,
    trivial,
)
from prodint.interaction import (
    Constant,
    Contract,
    Parameter,
    Signal,
    compile,
    constrain,
    library,
)
from prodint.interaction.constrain import Coefficients, tie
from prodint.testing import assert_equivariant

F64 = torch.float64


def grid_dense(c: int, o: int, h: int, w: int) -> Contract:
    """``Y[o, yo, xo] = Σ_{c,y,x} X[c, y, x] W[c, y, x, o, yo, xo]``."""
    x = Signal("X", [("c", c), ("y", h), ("x", w)])
    weight = Parameter("W", [("c", c), ("y", h), ("x", w), ("o", o), ("yo", h), ("xo", w)],
                       fan_in=("c", "y", "x"))
    return Contract(x, weight, over=("c", "y", "x"))


def image_dense(h: int, w: int) -> Contract:
    """``Y[yo, xo] = Σ_{y,x} X[y, x] W[y, x, yo, xo]``."""
    x = Signal("X", [("y", h), ("x", w)])
    weight = Parameter("W", [("y", h), ("x", w), ("yo", h), ("xo", w)], fan_in=("y", "x"))
    return Contract(x, weight, over=("y", "x"))


def test_translations_make_a_dense_layer_circular_with_offset_ties() -> None:
    c, o, h, w = 2, 3, 4, 5
    t = grid_translations((h, w))
    expr = constrain(grid_dense(c, o, h, w), "W", {("y", "x"): t, ("yo", "xo"): t})
    assert expr.self_interaction_order == 1
    layer = compile(expr, dtype=F64, generator=torch.Generator().manual_seed(0))
    theta = layer.params["W_theta"]
    assert theta.shape == (h * w, c, o)  # one coefficient per offset and channel pair
    assert sum(p.numel() for p in layer.parameters()) == h * w * c * o
    x = torch.randn(3, c, h, w, dtype=F64)
    expected = torch.zeros(3, o, h, w, dtype=F64)
    for y0 in range(h):
        for x0 in range(w):
            for y1 in range(h):
                for x1 in range(w):
                    offset = ((y1 - y0) % h) * w + (x1 - x0) % w  # orbit numbering
                    expected[:, :, y1, x1] += x[:, :, y0, x0] @ theta[offset].detach()
    torch.testing.assert_close(layer(x).detach(), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(layer.reference(x).detach(), expected, rtol=0, atol=1e-12)
    assert set(layer.tables()) == {"W_index"}
    assert list(layer.state_dict()) == ["params.W_theta"]


def rolls(h: int, w: int) -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(h) for dx in range(w)]


def test_translation_equivariance_with_svd_and_orbit_solvers_alike() -> None:
    h, w = 3, 4
    t = grid_translations((h, w))
    symmetry = {("y", "x"): t, ("yo", "xo"): t}
    orbit = compile(constrain(image_dense(h, w), "W", symmetry), dtype=F64)
    svd = compile(constrain(image_dense(h, w), "W", symmetry, solver="svd"), dtype=F64)
    assert any(isinstance(n, Constant) for n in svd.expression.walk())
    assert orbit.params["W_theta"].shape == (12,) and svd.params["W_theta"].shape == (12,)
    x = torch.randn(5, h, w, dtype=F64)
    for layer in (orbit, svd):
        assert_equivariant(layer, (x,), actions_in=lambda s, v: torch.roll(v, s, (-2, -1)),
                           action_out=lambda s, v: torch.roll(v, s, (-2, -1)),
                           elements=rolls(h, w), atol=1e-12, rtol=0)

    def span(layer) -> torch.Tensor:  # the space of dense maps each parametrization reaches
        columns = []
        for unit in torch.eye(12, dtype=F64):
            layer.load_tensors(W_theta=unit)
            with torch.no_grad():
                columns.append(layer(torch.eye(h * w, dtype=F64).view(-1, h, w)).reshape(-1))
        q = torch.linalg.qr(torch.stack(columns, 1)).Q
        return q @ q.T

    torch.testing.assert_close(span(orbit), span(svd), rtol=0, atol=1e-10)


def transform(element: int, image: torch.Tensor, n: int, mirror: bool) -> torch.Tensor:
    k, f = (element % n, element // n) if mirror else (element, 0)
    image = torch.flip(image, (-1,)) if f else image
    return torch.rot90(image, k * (4 // n), (-2, -1))


@pytest.mark.parametrize(("group", "mirror", "count"), [(cyclic(4), False, 157),
                                                        (dihedral(4), True, 91)],
                         ids=["C4", "D4"])
def test_rotations_and_mirrors_of_the_grid(group, mirror: bool, count: int) -> None:
    # Burnside on pairs of points of a 5×5 grid: C4: (625 + 1 + 1 + 1) / 4 = 157;
    # D4 adds four mirrors fixing 5 points each: (628 + 4 · 25) / 8 = 91.
    r = grid_rotations(group, 5)
    layer = compile(constrain(image_dense(5, 5), "W", {("y", "x"): r, ("yo", "xo"): r}),
                    dtype=F64)
    assert sum(p.numel() for p in layer.parameters()) == count
    x = torch.randn(4, 5, 5, dtype=F64)
    act = lambda g, v: transform(g, v, 4, mirror)  # noqa: E731
    assert_equivariant(layer, (x,), actions_in=act, action_out=act,
                       elements=list(range(group.order)), atol=1e-12, rtol=0)


def test_permutations_of_a_set_give_the_deep_sets_layer() -> None:
    # S3 permuting the points i of a set: W[i, c, j, o] = A[c, o] δ_ij + B[c, o]: 2·C·O weights.
    nat = permutation(symmetric(3), symmetric_permutations(3))
    x_sig = Signal("X", [("i", 3), ("c", 2)])
    weight = Parameter("W", [("i", 3), ("c", 2), ("j", 3), ("o", 4)], fan_in=("i", "c"))
    expr = constrain(Contract(x_sig, weight, over=("i", "c")), "W", {"i": nat, "j": nat})
    layer = compile(expr, dtype=F64)
    assert layer.params["W_theta"].shape == (2, 2, 4)
    x = torch.randn(6, 3, 2, dtype=F64)
    perms = symmetric_permutations(3)
    act = lambda g, v: v[:, torch.argsort(perms[g])]  # noqa: E731  (g·v)[g·i] = v[i]
    assert_equivariant(layer, (x,), actions_in=act, action_out=act, elements=list(range(6)),
                       atol=1e-12, rtol=0)
    theta = layer.params["W_theta"].detach()  # orbit 0: i = j (first entry), 1: i ≠ j
    expected = torch.einsum("bic,co->bio", x, theta[0] - theta[1]) + \
        torch.einsum("bic,co->bo", x, theta[1])[:, None]
    torch.testing.assert_close(layer(x).detach(), expected, rtol=0, atol=1e-12)


def test_a_lie_group_constraint_is_a_basis_contraction() -> None:
    v = so3_vector()
    x_sig = Signal("X", [("i", 3)])
    weight = Parameter("W", [("i", 3), ("j", 3)], fan_in=("i",))
    expr = constrain(Contract(x_sig, weight, over="i"), "W", {"i": v, "j": v})
    basis = next(n for n in expr.walk() if isinstance(n, Constant))
    assert basis.value.shape == (1, 3, 3)
    torch.testing.assert_close(basis.value[0].abs(), torch.eye(3, dtype=F64) / math.sqrt(3),
                               rtol=0, atol=1e-12)
    layer = compile(expr, dtype=F64)
    x = torch.randn(7, 3, dtype=F64)
    assert_equivariant(layer, (x,), v, v, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match=r"symmetry \(leg 'i'\): expected a permutation"):
        constrain(Contract(x_sig, weight, over="i"), "W", {"i": v, "j": v}, solver="orbits")


def test_locality_support_gives_a_small_kernel() -> None:
    h, w, k = 6, 7, 3
    t = grid_translations((h, w))
    y, x, yo, xo = torch.meshgrid(*(torch.arange(s) for s in (h, w, h, w)), indexing="ij")
    dy, dx = (yo - y + 1) % h, (xo - x + 1) % w  # offsets -1, 0, 1 become 0, 1, 2
    near = (dy < k) & (dx < k)
    support = near[None, :, :, None]  # broadcast over the channels c, o
    expr = constrain(grid_dense(2, 3, h, w), "W", {("y", "x"): t, ("yo", "xo"): t},
                     support=support)
    layer = compile(expr, dtype=F64, generator=torch.Generator().manual_seed(3))
    theta = layer.params["W_theta"].detach()
    assert theta.shape == (k * k, 2, 3)
    assert set(layer.tables()) == {"W_index", "W_weight"}
    units = torch.eye(2 * h * w, dtype=F64).view(-1, 2, h, w)
    with torch.no_grad():
        dense = layer(units).view(2, h, w, 3, h, w)  # W[c, y, x, o, yo, xo]
    # The window's offsets, numbered in order of first appearance from (y, x) = (0, 0):
    # (yo, xo) = (0, 0), (0, 1), (0, w-1), (1, 0), … i.e. by (dy', dx') in (0, 1, -1).
    order = [0, 1, -1]
    for i, (a, b) in enumerate((a, b) for a in order for b in order):
        torch.testing.assert_close(dense[:, 0, 0, :, a % h, b % w], theta[i], rtol=0, atol=0)
    outside = ~near.view(1, h, w, 1, h, w).expand_as(dense)
    assert float(dense[outside].abs().max()) == 0.0


def test_coefficients_start_with_the_replaced_variance() -> None:
    c, o, h, w = 8, 8, 6, 6
    t = grid_translations((h, w))
    expr = constrain(grid_dense(c, o, h, w), "W", {("y", "x"): t, ("yo", "xo"): t})
    theta = next(p for p in expr.parameters())
    assert isinstance(theta, Coefficients) and theta.std == pytest.approx(1 / math.sqrt(c * h * w))
    drawn = theta.initial_value(dtype=F64, generator=torch.Generator().manual_seed(0))
    assert abs(float(drawn.std()) * math.sqrt(c * h * w) - 1) < 0.05
    # With a basis of m tensors over N entries the coefficients carry N/m times the variance.
    v = so3_vector()
    lie = constrain(Contract(Signal("X", [("i", 3)]), Parameter("W", [("i", 3), ("j", 3)]),
                             over="i"), "W", {"i": v, "j": v})
    (coef,) = lie.parameters()
    assert coef.std == pytest.approx(math.sqrt(9 / 3 / 1))  # N = 9, m = 1, fan_in 3
    zeros = constrain(library.dense(3, 4), "b", {"o": regular(cyclic(4))})
    bias = next(p for p in zeros.parameters() if p.name == "b_theta")
    assert torch.equal(bias.initial_value(), torch.zeros(1))


def test_only_zero_is_invariant_gives_a_constant() -> None:
    s3 = symmetric(3)
    x_sig = Signal("X", [("c", 1)])
    weight = Parameter("W", [("c", 1), ("o", 2)])
    expr = constrain(Contract(x_sig, weight, over="c"), "W",
                     {"c": sign(s3), "o": trivial(s3, 2)})
    assert expr.parameters() == []
    layer = compile(expr, dtype=F64)
    assert torch.equal(layer(torch.ones(3, 1, dtype=F64)), torch.zeros(3, 2, dtype=F64))


def test_tie_with_given_labels() -> None:
    x_sig = Signal("X", [("c", 3)])
    weight = Parameter("W", [("c", 3), ("o", 2)])
    expr = Contract(x_sig, weight, over="c")
    labels = torch.tensor([1, -1, 0])  # c = 0 uses θ[1], c = 1 is zero, c = 2 uses θ[0]
    tied = tie(expr, "W", labels, axes=["c"], name="w")
    layer = compile(tied, dtype=F64)
    theta = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64)
    layer.load_tensors(w=theta)
    x = torch.tensor([[1.0, 10.0, 100.0]], dtype=F64)
    torch.testing.assert_close(layer(x), torch.tensor([[103.0, 204.0]], dtype=F64))
    with pytest.raises(ValueError, match=r"labels: expected every label in 0\.\.2 to occur.*\[1\]"):
        tie(expr, "W", torch.tensor([0, 2, 2]), axes=["c"])
    with pytest.raises(ValueError, match=r"labels: expected values in -1\.\.1"):
        tie(expr, "W", torch.tensor([0, -2, 1]), axes=["c"])
    with pytest.raises(ValueError, match=r"labels: expected shape \[3\] \(axes \['c'\]"):
        tie(expr, "W", torch.tensor([0, 1]), axes=["c"])
    with pytest.raises(TypeError, match=r"labels: expected an integer torch\.Tensor"):
        tie(expr, "W", torch.tensor([0.0, 1.0, 2.0]), axes=["c"])
    with pytest.raises(ValueError, match=r"axes: expected axes of parameter 'W'"):
        tie(expr, "W", labels, axes=["q"])


def test_bad_constraints_name_the_argument_expected_and_received() -> None:
    t5 = grid_translations(5)
    expr = library.dense(5, 5)
    with pytest.raises(ValueError, match=r"parameter: expected one of the expression's "
                                         r"parameters \['W', 'b'\], received 'K'"):
        constrain(expr, "K", {"c": t5})
    with pytest.raises(ValueError, match=r"symmetry: expected axes of parameter 'W' \(one of "
                                         r"\['c', 'o'\]\), received 'y'"):
        constrain(expr, "W", {"y": t5})
    with pytest.raises(ValueError, match=r"leg 'o' has 5 entries \(sizes 5\); expected a "
                                         r"representation of that dimension, received "
                                         r"regular\(C4\) of dimension 4"):
        constrain(expr, "W", {"o": regular(cyclic(4))})
    with pytest.raises(TypeError, match="symmetry: expected a mapping"):
        constrain(expr, "W", "translations")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="solver: expected one of"):
        constrain(expr, "W", {"c": t5, "o": t5}, solver="fast")
    with pytest.raises(ValueError, match=r"support: expected a mask broadcastable to \[5, 5\]"):
        constrain(expr, "W", {"c": t5}, support=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"support: expected a mask that does not vary along "
                                         r"the axes no symmetry acts on \(\['o'\]\)"):
        constrain(expr, "W", {"c": t5}, support=torch.eye(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="name: expected a new parameter name, received 'b'"):
        constrain(expr, "W", {"c": t5, "o": t5}, name="b")
    with pytest.raises(ValueError, match=r"tie table of 'W' \(\[5, 5\]\) would need about"):
        constrain(expr, "W", {"c": t5, "o": t5}, max_bytes=100)
    big = grid_translations((30, 30))
    with pytest.raises(ValueError, match=r"SVD solver for 810,000 unknowns .* TiB"):
        constrain(image_dense(30, 30), "W", {("y", "x"): big, ("yo", "xo"): big},
                  solver="svd", max_bytes=1 << 40)
