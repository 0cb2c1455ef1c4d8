"""The span constructors against torch's own layers, in float64 to 1e-10."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.algebra import clifford, complex_numbers, group_algebra, quaternions
from prodint.groups import cyclic, dihedral, symmetric
from prodint.spans import (
    Span,
    conv,
    conv_transpose,
    dense,
    depthwise,
    from_algebra,
    graph,
    group_conv,
    grouped_weight,
)

F64 = torch.float64
TOL = dict(atol=1e-10, rtol=1e-10)
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _randn(*shape: int, seed: int = 0) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _blocks(x: Tensor) -> Tensor:
    """torch's ``[B, C, *grid]`` as the block-form ``[B, points, C]``."""
    return x.flatten(2).mT


def test_dense_is_linear() -> None:
    W, x = _randn(4, 3), _randn(5, 3, seed=1)
    span = dense(3, 4)
    assert isinstance(span, Span) and span.size == 12
    torch.testing.assert_close(span(W.flatten(), x), F.linear(x, W), **TOL)
    torch.testing.assert_close(span.to_dense(W.flatten()), W, **TOL)


CONV_CASES = [
    ((9,), 3, 1, 0, 1), ((10,), 3, 2, 1, 2), ((7,), 1, 3, 0, 1),
    ((6, 5), (3, 2), 1, 1, 1), ((8, 7), 3, (2, 1), (0, 2), (1, 2)),
    ((4, 5, 6), 2, 1, 1, 1), ((5, 4, 6), (3, 1, 2), (2, 1, 2), (1, 0, 0), (1, 1, 2)),
]


@pytest.mark.parametrize(("grid", "kernel", "stride", "padding", "dilation"), CONV_CASES)
def test_conv_matches_torch(grid, kernel, stride, padding, dilation) -> None:
    n = len(grid)
    ks = kernel if isinstance(kernel, tuple) else (kernel,) * n
    W, x = _randn(3, 2, *ks), _randn(2, 2, *grid, seed=1)
    want = CONV[n](x, W, stride=stride, padding=padding, dilation=dilation)
    span = conv(grid, kernel, stride, padding, dilation)
    got = span(W.flatten(2).permute(2, 1, 0), _blocks(x)).mT.reshape(want.shape)
    torch.testing.assert_close(got, want, **TOL)
    # single channel, scalar form
    single = CONV[n](x[:, :1], W[:1, :1], stride=stride, padding=padding, dilation=dilation)
    torch.testing.assert_close(span(W[0, 0].flatten(), x[:, 0].flatten(1)),
                               single.flatten(1), **TOL)


def test_conv_zero_padding_is_missing_elements() -> None:
    padded, valid = conv([5], 3, padding=1), conv([5], 3)
    assert padded.size == 5 * 3 - 2 and valid.size == 3 * 3


@pytest.mark.parametrize(("grid", "kernel", "stride", "padding", "dilation", "extra"), [
    ((5,), 3, 2, 1, 1, 1), ((6,), 2, 1, 0, 2, 1), ((4, 3), (3, 2), (2, 1), (1, 0), 1, (1, 0)),
    ((3, 2, 4), 2, 2, 0, 1, 0), ((2, 3, 3), (1, 2, 3), (1, 2, 3), (0, 1, 1), (1, 1, 1),
                                  (0, 1, 2)),
])
def test_conv_transpose_matches_torch(grid, kernel, stride, padding, dilation, extra) -> None:
    n = len(grid)
    ks = kernel if isinstance(kernel, tuple) else (kernel,) * n
    W, x = _randn(2, 3, *ks), _randn(2, 2, *grid, seed=1)
    want = CONV_T[n](x, W, stride=stride, padding=padding, output_padding=extra,
                     dilation=dilation)
    span = conv_transpose(grid, kernel, stride, padding, dilation, extra)
    assert span.out_size == want[0, 0].numel()
    got = span(W.flatten(2).permute(2, 0, 1), _blocks(x)).mT.reshape(want.shape)
    torch.testing.assert_close(got, want, **TOL)


def test_conv_transpose_is_the_transpose_of_conv() -> None:
    forward = conv([9, 8], 3, 2, 1)
    back = conv_transpose([5, 4], 3, 2, 1, output_padding=(0, 1))
    w = _randn(9)
    torch.testing.assert_close(back.to_dense(w), forward.to_dense(w).T, **TOL)


@pytest.mark.parametrize(("grid", "groups"), [((8,), 2), ((6, 5), 3), ((4, 3, 5), 6)])
def test_grouped_conv_by_block_diagonal_weight(grid, groups) -> None:
    n = len(grid)
    W, x = _randn(6, 6 // groups, *(2,) * n), _randn(2, 6, *grid, seed=1)
    want = CONV[n](x, W, padding=1, groups=groups)
    got = conv(grid, 2, padding=1)(grouped_weight(W, groups), _blocks(x))
    torch.testing.assert_close(got.mT.reshape(want.shape), want, **TOL)


@pytest.mark.parametrize(("grid", "kernel", "stride", "padding"), [
    ((9,), 3, 2, 1), ((5, 6), (3, 2), 1, (1, 0)), ((4, 4, 3), 2, (1, 2, 1), 1)])
def test_depthwise_matches_torch(grid, kernel, stride, padding) -> None:
    n = len(grid)
    ks = kernel if isinstance(kernel, tuple) else (kernel,) * n
    W, x = _randn(4, 1, *ks), _randn(3, 4, *grid, seed=1)
    want = CONV[n](x, W, stride=stride, padding=padding, groups=4)
    got = depthwise(grid, 4, kernel, stride, padding)(W.flatten(), x.flatten(1))
    torch.testing.assert_close(got, want.flatten(1), **TOL)


def _scatter(edge_index: Tensor, x: Tensor, coefficient: Tensor, n: int) -> Tensor:
    """The hand-written message passing ``y[v] += c_e x[u]`` for edges ``(u, v)``."""
    out = x.new_zeros(x.shape[0], n, *x.shape[2:])
    c = coefficient.view(1, -1, *([1] * (x.dim() - 2)))
    return out.index_add_(1, edge_index[1], c * x[:, edge_index[0]])


def _random_graph(n: int, e: int) -> Tensor:
    return torch.randint(0, n, (2, e), generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("normalize", [None, "mean", "sym"])
def test_graph_matches_index_add(normalize) -> None:
    n, edge_index = 7, _random_graph(7, 20)
    types = torch.randint(0, 3, (20,), generator=torch.Generator().manual_seed(4))
    src, dst = edge_index
    indeg = torch.bincount(dst, minlength=n).to(F64)
    outdeg = torch.bincount(src, minlength=n).to(F64)
    nu = {None: torch.ones(20, dtype=F64), "mean": 1 / indeg[dst],
          "sym": 1 / (outdeg[src] * indeg[dst]).sqrt()}[normalize]
    x, w = _randn(2, n, seed=1), _randn(3)
    span = graph(edge_index, n, types, 3, normalize, dtype=F64)
    torch.testing.assert_close(span(w, x), _scatter(edge_index, x, nu * w[types], n), **TOL)
    # block form: one weight matrix per edge type (a relational graph convolution)
    xb, wb = _randn(2, n, 4, seed=2), _randn(3, 4, 5, seed=5)
    want = sum(_scatter(edge_index[:, types == r], xb @ wb[r], nu[types == r], n)
               for r in range(3))
    torch.testing.assert_close(span(wb, xb), want, **TOL)


def test_graph_untyped_is_one_parameter() -> None:
    edge_index = _random_graph(5, 9)
    span = graph(edge_index, 5)
    assert span.param_size == 1
    x = _randn(3, 5)
    torch.testing.assert_close(span(torch.tensor([2.0], dtype=F64), x),
                               _scatter(edge_index, x, torch.full((9,), 2.0, dtype=F64), 5),
                               **TOL)


@pytest.mark.parametrize("make", [lambda: cyclic(6), lambda: dihedral(4),
                                  lambda: symmetric(3)])
def test_group_conv_matches_the_cayley_table(make) -> None:
    group = make()
    n, table, inverse = group.order, group.table, group.inverse
    w, x = _randn(n), _randn(3, n, seed=1)
    want = torch.zeros(3, n, dtype=F64)
    for g in range(n):
        for h in range(n):
            want[:, g] += w[table[inverse[h], g]] * x[:, h]
    span = group_conv(group)
    torch.testing.assert_close(span(w, x), want, **TOL)
    torch.testing.assert_close(group_conv(table)(w, x), want, **TOL)
    # in the group algebra the layer is right multiplication by w
    algebra = group_algebra(group).to_dtype(F64)
    torch.testing.assert_close(span(w, x), algebra.mul(x, w.expand(3, n)), **TOL)


def test_group_conv_is_equivariant() -> None:
    group = dihedral(5)
    table, w, x = group.table, _randn(10), _randn(10, seed=1)
    span = group_conv(group)
    for a in range(10):
        # (a . x)[g] = x[a^{-1} g], i.e. x moved to index table[a, h]
        moved = torch.empty_like(x)
        moved[table[a]] = x
        expected = torch.empty_like(x)
        expected[table[a]] = span(w, x)
        torch.testing.assert_close(span(w, moved), expected, **TOL)


@pytest.mark.parametrize("make", [complex_numbers, quaternions, lambda: clifford(2, 1)])
def test_from_algebra_is_left_multiplication(make) -> None:
    alg = make().to_dtype(F64)
    a, x = _randn(alg.dim), _randn(4, alg.dim, seed=1)
    span = from_algebra(alg)
    assert span.size == alg.nnz
    torch.testing.assert_close(span(a, x), alg.mul(a.expand(4, -1), x), **TOL)
    torch.testing.assert_close(span.to_dense(a), alg.left_multiplication(a), **TOL)


def test_float32_agrees() -> None:
    W, x = torch.randn(3, 2, 3, 3), torch.randn(2, 2, 6, 5)
    want = F.conv2d(x, W, stride=2, padding=1)
    got = conv([6, 5], 3, 2, 1)(W.flatten(2).permute(2, 1, 0), _blocks(x))
    torch.testing.assert_close(got.mT.reshape(want.shape), want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("call", "argument"), [
    (lambda: dense(0, 3), "in_features"),
    (lambda: dense(2, 2.0), "out_features"),
    (lambda: conv([5], 7), "kernel_size"),
    (lambda: conv([5, 5], (3, 3, 3)), "kernel_size"),
    (lambda: conv(5, 3), "in_size"),
    (lambda: conv([5], 3, stride=0), "stride"),
    (lambda: conv([5], 3, padding=-1), "padding"),
    (lambda: conv_transpose([5], 3, stride=2, output_padding=2), "output_padding"),
    (lambda: conv_transpose([1], 1, padding=1), "padding"),
    (lambda: grouped_weight(torch.zeros(5, 2, 3, dtype=F64), 2), "groups"),
    (lambda: grouped_weight(torch.zeros(5, 2, dtype=F64), 1), "weight"),
    (lambda: depthwise([5], 0, 3), "channels"),
    (lambda: graph(torch.tensor([[0, 5], [1, 2]]), 5), "edge_index"),
    (lambda: graph(torch.tensor([0, 1]), 5), "edge_index"),
    (lambda: graph(torch.tensor([[0.0], [1.0]]), 5), "edge_index"),
    (lambda: graph(torch.tensor([[0, 1], [1, 2]]), 3, torch.tensor([0]), 2), "edge_type"),
    (lambda: graph(torch.tensor([[0, 1], [1, 2]]), 3, torch.tensor([0, 2]), 2), "edge_type"),
    (lambda: graph(torch.tensor([[0, 1], [1, 2]]), 3, normalize="max"), "normalize"),
    (lambda: graph(torch.tensor([[0, 1], [1, 2]]), 3, dtype=torch.long), "dtype"),
    (lambda: group_conv("C4"), "group"),
    (lambda: group_conv([[0, 1], [0, 1]]), "group"),
    (lambda: from_algebra(torch.eye(2)), "algebra"),
])
def test_bad_input_names_the_argument(call, argument) -> None:
    with pytest.raises((TypeError, ValueError), match=argument):
        call()


def test_huge_spans_are_refused_before_allocating() -> None:
    with pytest.raises(ValueError, match="fits in"):
        dense(10**7, 10**7)
    with pytest.raises(ValueError, match="fits in"):
        conv([10**5, 10**5], 5, padding=2)


def test_conv_gradients_match_torch() -> None:
    W = _randn(3, 2, 3, 2).requires_grad_()
    x = _randn(2, 2, 6, 5, seed=1).requires_grad_()
    g = _randn(2, 3, 3, 6, seed=2)
    want = torch.autograd.grad((F.conv2d(x, W, stride=(2, 1), padding=1) * g).sum(), (W, x))
    span = conv([6, 5], (3, 2), (2, 1), 1)
    y = span(W.flatten(2).permute(2, 1, 0), _blocks(x)).mT.reshape(g.shape)
    got = torch.autograd.grad((y * g).sum(), (W, x))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_graph_gradcheck() -> None:
    edge_index = _random_graph(5, 12)
    span = graph(edge_index, 5, normalize="sym", dtype=F64)
    w, x = _randn(1, 2, 3).requires_grad_(), _randn(2, 5, 2, seed=1).requires_grad_()
    assert torch.autograd.gradcheck(span, (w, x))


def test_graph_normalisation_in_the_default_dtype() -> None:
    edge_index = _random_graph(6, 15)
    span = graph(edge_index, 6, normalize="mean")
    assert span.dtype == torch.float32
    x = torch.randn(2, 6)
    want = graph(edge_index, 6, normalize="mean", dtype=F64)(torch.ones(1, dtype=F64),
                                                             x.to(F64))
    torch.testing.assert_close(span(torch.ones(1), x), want.float(), atol=1e-6, rtol=1e-6)
