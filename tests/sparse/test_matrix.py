"""to_sparse_matrix and unroll: the matrices read off a layer's span."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from prodint.interaction import Contract, Parameter, Pointwise, Signal, compile, library
from prodint.sparse import to_sparse_matrix, unroll
from prodint.zoo import ElmanRNN, from_torch

F64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_conv2d_matrix_is_torch_conv(stride: int, padding: int, dilation: int) -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 3, 3, stride=stride, padding=padding, dilation=dilation).double()
    layer = from_torch(conv)
    x = torch.randn(2, 9, 8, dtype=F64, generator=_gen())
    m, b = to_sparse_matrix(layer, (2, 9, 8))
    assert m.layout == torch.sparse_csr
    expected = F.conv2d(x[None], conv.weight, conv.bias, stride, padding, dilation)[0]
    assert torch.allclose(m @ x.flatten() + b, expected.flatten(), atol=1e-12)
    # with batch sizes in front the matrix is block diagonal
    xs = torch.randn(3, 2, 9, 8, dtype=F64, generator=_gen(1))
    mb, bb = to_sparse_matrix(layer, (3, 2, 9, 8))
    assert mb.shape == (3 * m.shape[0], 3 * m.shape[1])
    batched = F.conv2d(xs, conv.weight, conv.bias, stride, padding, dilation)
    assert torch.allclose(mb @ xs.flatten() + bb, batched.flatten(), atol=1e-12)


def test_valid_conv_pattern_counts_and_upper_band() -> None:
    layer = from_torch(torch.nn.Conv2d(1, 1, 3, bias=False).double())
    m, b = to_sparse_matrix(layer, (1, 8, 8))
    assert m.shape == (36, 64) and m._nnz() == 36 * 9
    assert torch.count_nonzero(b) == 0
    conv1 = torch.nn.Conv1d(1, 1, 4, bias=False).double()
    dense = to_sparse_matrix(from_torch(conv1), (1, 10))[0].to_dense()
    w = conv1.weight.detach().reshape(-1)
    toeplitz = torch.zeros(7, 10, dtype=F64)
    for i in range(7):
        toeplitz[i, i:i + 4] = w
    assert torch.equal(dense, toeplitz)
    rows, cols = torch.nonzero(dense, as_tuple=True)
    assert bool((cols >= rows).all()) and bool((cols <= rows + 3).all())


def test_values_are_differentiable_in_the_parameters() -> None:
    layer = compile(library.dense(3, 2), dtype=F64, generator=_gen())
    x = torch.randn(4, 3, dtype=F64, generator=_gen(1))
    m, b = to_sparse_matrix(layer, (4, 3))
    loss = (m @ x.flatten() + b).square().sum()
    grads = torch.autograd.grad(loss, [layer.params["W"], layer.params["b"]])
    expected = torch.autograd.grad(layer(x).square().sum(), [layer.params["W"], layer.params["b"]])
    for got, want in zip(grads, expected, strict=True):
        assert torch.allclose(got, want, atol=1e-12)


def test_an_expression_with_its_parameters() -> None:
    x = Signal("X", [("t", None), ("c", 2)])
    expr = Contract(x, Parameter("W", [("c", 2), ("o", 3)]), over="c")
    w = torch.randn(2, 3, dtype=F64, generator=_gen())
    m, b = to_sparse_matrix(expr, (5, 2), parameters={"W": w})
    xs = torch.randn(5, 2, dtype=F64, generator=_gen(1))
    assert torch.allclose(m @ xs.flatten() + b, (xs @ w).flatten(), atol=1e-12)


def test_unrolled_linear_recurrence_is_the_block_lower_triangular_matrix() -> None:
    layer = compile(library.linear_recurrence(2, 3), dtype=F64, generator=_gen())
    a, w = layer.params["a"].detach(), layer.params["W"].detach()
    length = 5
    m = unroll(layer, length)
    assert m.shape == (length * 3, length * 2)
    expected = torch.zeros(length * 3, length * 2, dtype=F64)
    for t in range(length):
        for s in range(t + 1):
            block = torch.diag(a ** (t - s)) @ w.T            # [h, c]
            expected[3 * t:3 * t + 3, 2 * s:2 * s + 2] = block
    assert torch.allclose(m, expected, atol=1e-12)
    x = torch.randn(length, 2, dtype=F64, generator=_gen(1))
    assert torch.allclose(m @ x.flatten(), layer(x).flatten(), atol=1e-12)


def test_nonlinear_recurrence_jacobian_is_block_lower_triangular() -> None:
    torch.manual_seed(0)
    rnn = ElmanRNN(2, 3, dtype=F64)
    length = 4
    x = torch.randn(length, 1, 2, dtype=F64, generator=_gen())
    j = unroll(rnn, length, x=x)
    assert j.shape == (length * 3, length * 2)
    for t in range(length):
        assert torch.count_nonzero(j[3 * t:3 * t + 3, 2 * (t + 1):]) == 0
        assert torch.count_nonzero(j[3 * t:3 * t + 3, :2 * (t + 1)]) > 0
    # the first block: h_0 = tanh(W_ih x_0 + b), so dh_0/dx_0 = diag(1 - h_0^2) W_ih
    h0 = rnn(x)[0][0, 0]
    w_ih = rnn.param("weight_ih_l0").detach()               # [hidden, in], torch's layout
    assert torch.allclose(j[:3, :2], torch.diag(1 - h0 ** 2) @ w_ih, atol=1e-12)


def test_bad_arguments() -> None:
    layer = compile(library.dense(3, 2), dtype=F64)
    with pytest.raises(TypeError, match=r"^layer:"):
        to_sparse_matrix(torch.nn.Linear(3, 2), (3,))
    with pytest.raises(ValueError, match=r"^input_shape:"):
        to_sparse_matrix(layer, (4, 5))
    with pytest.raises(ValueError, match=r"^input_shape:"):
        to_sparse_matrix(layer, ())
    with pytest.raises(TypeError, match=r"^input_shape\[0\]:"):
        to_sparse_matrix(layer, (2.5, 3))
    glu = compile(library.glu(3, 4), dtype=F64)
    with pytest.raises(ValueError, match=r"^layer: .*Pointwise sigmoid"):
        to_sparse_matrix(glu, (4, 3))
    x = Signal("X", [("c", 2)])
    with pytest.raises(ValueError, match=r"^layer: .*Pointwise"):
        to_sparse_matrix(Pointwise("tanh", x), (2,))
    expr = Contract(x, Parameter("W", [("c", 2), ("o", 3)]), over="c")
    with pytest.raises(ValueError, match=r"^parameters:"):
        to_sparse_matrix(expr, (2,))
    with pytest.raises(ValueError, match=r"^time:"):
        unroll(compile(library.linear_recurrence(2, 3), dtype=F64), 4, time="s")
    with pytest.raises(ValueError, match=r"^x:"):
        unroll(ElmanRNN(2, 3, dtype=F64), 4)
    with pytest.raises(ValueError, match=r"^length:"):
        unroll(layer, 0)
