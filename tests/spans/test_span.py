"""The Span core: application against its dense matrix, gradients against autograd of the
dense reference and gradcheck, the adjoint, composition over the pullback, bad input."""

from __future__ import annotations

import re

import pytest
import torch
from torch import Tensor

from prodint.spans.span import Span


def random_span(gen: torch.Generator, in_size: int = 5, out_size: int = 4,
                param_size: int = 3, size: int = 23, dtype: torch.dtype | None = torch.float64,
                ) -> Span:
    def idx(n: int) -> Tensor:
        return torch.randint(0, n, (size,), generator=gen)
    weight = None if dtype is None else torch.randn(size, generator=gen, dtype=dtype)
    return Span(idx(in_size), idx(out_size), idx(param_size), weight, in_size, out_size,
                param_size)


def block_reference(span: Span, w: Tensor, x: Tensor) -> Tensor:
    """The block form by its definition, an explicit loop over E."""
    y = x.new_zeros(*x.shape[:-2], span.out_size, w.shape[2])
    nu = span.weight if span.weight is not None else torch.ones(span.size, dtype=x.dtype)
    for e in range(span.size):
        s, t, p = int(span.source[e]), int(span.target[e]), int(span.param[e])
        y[..., t, :] = y[..., t, :] + nu[e] * x[..., s, :] @ w[p]
    return y


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("lead", [(), (3,), (2, 3)])
def test_scalar_forward_is_the_dense_matrix(gen: torch.Generator, dtype: torch.dtype,
                                            tol: float, lead: tuple[int, ...]) -> None:
    span = random_span(gen, dtype=dtype)
    w = torch.randn(3, generator=gen, dtype=dtype)
    x = torch.randn(*lead, 5, generator=gen, dtype=dtype)
    y = span(w, x)
    assert y.shape == (*lead, 4) and y.dtype == dtype
    torch.testing.assert_close(y, x @ span.to_dense(w).T, atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_block_forward_is_the_definition(gen: torch.Generator, dtype: torch.dtype,
                                         tol: float) -> None:
    span = random_span(gen, dtype=dtype)
    w = torch.randn(3, 2, 6, generator=gen, dtype=dtype)
    x = torch.randn(2, 3, 5, 2, generator=gen, dtype=dtype)
    y = span(w, x)
    assert y.shape == (2, 3, 4, 6)
    torch.testing.assert_close(y, block_reference(span, w, x), atol=tol, rtol=tol)


def test_implicit_weights_are_ones(gen: torch.Generator) -> None:
    span = random_span(gen, dtype=None)
    ones = Span(span.source, span.target, span.param, torch.ones(span.size, dtype=torch.float64),
                5, 4, 3)
    w, x = torch.randn(3, dtype=torch.float64), torch.randn(7, 5, dtype=torch.float64)
    torch.testing.assert_close(span(w, x), ones(w, x), atol=1e-12, rtol=0)
    assert span.dtype is None and ones.dtype == torch.float64


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_scalar_gradients_match_autograd_of_the_dense_reference(
        gen: torch.Generator, dtype: torch.dtype, tol: float) -> None:
    span = random_span(gen, dtype=dtype)
    nu = span.weight.clone().requires_grad_(True)
    w = torch.randn(3, generator=gen, dtype=dtype, requires_grad=True)
    x = torch.randn(2, 3, 5, generator=gen, dtype=dtype, requires_grad=True)
    g = torch.randn(2, 3, 4, generator=gen, dtype=dtype)
    live = Span(span.source, span.target, span.param, nu, 5, 4, 3)
    got = torch.autograd.grad((live(w, x) * g).sum(), (w, x, nu))
    dense = torch.zeros(4 * 5, dtype=dtype).index_add(
        0, span.target * 5 + span.source, nu * w[span.param]).reshape(4, 5)
    want = torch.autograd.grad(((x @ dense.T) * g).sum(), (w, x, nu))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_block_gradients_match_autograd_of_the_reference(gen: torch.Generator) -> None:
    span = random_span(gen)
    nu = span.weight.clone().requires_grad_(True)
    w = torch.randn(3, 2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.randn(3, 5, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    g = torch.randn(3, 4, 4, generator=gen, dtype=torch.float64)
    live = Span(span.source, span.target, span.param, nu, 5, 4, 3)
    got = torch.autograd.grad((live(w, x) * g).sum(), (w, x, nu))
    want = torch.autograd.grad((block_reference(live, w, x) * g).sum(), (w, x, nu))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("block", [False, True])
def test_gradcheck_and_gradgradcheck(gen: torch.Generator, block: bool) -> None:
    span = random_span(gen)
    nu = span.weight.clone().requires_grad_(True)
    shape_w, shape_x = ((3, 2, 3), (2, 5, 2)) if block else ((3,), (2, 5))
    w = torch.randn(*shape_w, generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.randn(*shape_x, generator=gen, dtype=torch.float64, requires_grad=True)

    def f(w: Tensor, x: Tensor, nu: Tensor) -> Tensor:
        return Span(span.source, span.target, span.param, nu, 5, 4, 3)(w, x)
    assert torch.autograd.gradcheck(f, (w, x, nu))
    assert torch.autograd.gradgradcheck(f, (w, x, nu))


def test_transpose_is_the_adjoint(gen: torch.Generator) -> None:
    span = random_span(gen)
    t = span.transpose()
    assert (t.in_size, t.out_size, t.param_size, t.size) == (4, 5, 3, span.size)
    w = torch.randn(3, generator=gen, dtype=torch.float64)
    x, y = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    torch.testing.assert_close((span(w, x) * y).sum(), (x * t(w, y)).sum(), atol=1e-10, rtol=0)
    torch.testing.assert_close(t.to_dense(w), span.to_dense(w).T, atol=0, rtol=0)
    wb = torch.randn(3, 2, 3, dtype=torch.float64, generator=gen)
    xb, yb = torch.randn(5, 2, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close((span(wb, xb) * yb).sum(),
                               (xb * t(wb.transpose(1, 2), yb)).sum(), atol=1e-10, rtol=0)


@pytest.mark.parametrize("weights", [(True, True), (True, False), (False, True), (False, False)])
def test_compose_is_applying_in_turn(gen: torch.Generator, weights: tuple[bool, bool]) -> None:
    first = random_span(gen, 5, 4, 3, 23, torch.float64 if weights[0] else None)
    second = random_span(gen, 4, 6, 2, 17, torch.float64 if weights[1] else None)
    both = first.compose(second)
    assert (both.in_size, both.out_size, both.param_size) == (5, 6, 6)
    expected = int((first.target[:, None] == second.source[None, :]).sum())
    assert both.size == expected
    w1 = torch.randn(3, generator=gen, dtype=torch.float64)
    w2 = torch.randn(2, generator=gen, dtype=torch.float64)
    w = torch.outer(w1, w2).flatten()
    x = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(both(w, x), second(w2, first(w1, x)), atol=1e-10, rtol=0)
    torch.testing.assert_close(both.to_dense(w), second.to_dense(w2) @ first.to_dense(w1),
                               atol=1e-10, rtol=0)
    # block form: the pair (p1, p2) carries w1[p1] @ w2[p2]
    b1 = torch.randn(3, 2, 3, generator=gen, dtype=torch.float64)
    b2 = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64)
    pairs = torch.einsum("aij,bjk->abik", b1, b2).reshape(6, 2, 4)
    xb = torch.randn(3, 5, 2, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(both(pairs, xb), second(b2, first(b1, xb)), atol=1e-10, rtol=0)


def test_empty_span_and_empty_batch(gen: torch.Generator) -> None:
    empty = torch.zeros(0, dtype=torch.int64)
    span = Span(empty, empty, empty, None, 3, 2, 1)
    w = torch.randn(1, dtype=torch.float64)
    assert torch.equal(span(w, torch.ones(4, 3, dtype=torch.float64)),
                       torch.zeros(4, 2, dtype=torch.float64))
    full = random_span(gen)
    assert full(torch.randn(3, dtype=torch.float64),
                torch.zeros(0, 5, dtype=torch.float64)).shape == (0, 4)
    tail = Span(idx(0), idx(0), idx(0), None, 2, 1, 1)
    assert span.compose(tail).size == 0


def test_repr_and_properties(gen: torch.Generator) -> None:
    span = random_span(gen)
    assert span.size == 23 and span.device == torch.device("cpu")
    assert repr(span).startswith("Span(in_size=5, out_size=4, param_size=3, size=23")


def idx(*values: int) -> Tensor:
    return torch.tensor(values, dtype=torch.int64)


@pytest.mark.parametrize("change,error,words", [
    ({"source": idx(0, 5)}, ValueError, "source: expected indices in [0, 5)"),
    ({"target": idx(0, -1)}, ValueError, "target: expected indices in [0, 4)"),
    ({"param": idx(3, 0)}, ValueError, "param: expected indices in [0, 3)"),
    ({"target": idx(0, 1, 2)}, ValueError, "target: expected shape [2]"),
    ({"param": idx(0)}, ValueError, "param: expected shape [2]"),
    ({"weight": torch.ones(3, dtype=torch.float64)}, ValueError, "weight: expected shape [2]"),
    ({"weight": torch.ones(2, dtype=torch.int64)}, TypeError, "weight: expected dtype"),
    ({"source": idx(0, 1).to(torch.int32)}, TypeError, "source: expected dtype int64"),
    ({"source": [0, 1]}, TypeError, "source: expected a torch.Tensor"),
    ({"source": idx(0, 1)[None]}, ValueError, "source: expected a tensor of rank 1"),
    ({"in_size": 5.0}, TypeError, "in_size: expected an int"),
    ({"out_size": -1}, ValueError, "out_size: expected an int >= 0"),
])
def test_bad_construction(change: dict[str, object], error: type[Exception],
                          words: str) -> None:
    arguments: dict[str, object] = {"source": idx(0, 4), "target": idx(3, 0),
                                    "param": idx(2, 1), "weight": None, "in_size": 5,
                                    "out_size": 4, "param_size": 3}
    arguments.update(change)
    with pytest.raises(error, match=re.escape(words)):
        Span(**arguments)  # type: ignore[arg-type]


def test_bad_application(gen: torch.Generator) -> None:
    span = random_span(gen)
    w, x = torch.randn(3, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"w: expected shape \[3\]"):
        span(torch.randn(4, dtype=torch.float64), x)
    with pytest.raises(ValueError, match="w: expected a tensor of rank 1 or 3"):
        span(torch.randn(3, 2, dtype=torch.float64), x)
    with pytest.raises(ValueError, match=r"x: expected shape \[\.\.\., 5\]"):
        span(w, torch.randn(2, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"x: expected dtype torch\.float64"):
        span(w, x.float())
    with pytest.raises(TypeError, match="w: expected dtype"):
        span(torch.ones(3, dtype=torch.int64), x)
    with pytest.raises(ValueError, match=r"x: expected shape \[\.\.\., 5, 2\]"):
        span(torch.randn(3, 2, 4, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="to_dense takes the scalar form"):
        span.to_dense(torch.randn(3, 2, 4, dtype=torch.float64))


def test_bad_compose(gen: torch.Generator) -> None:
    span = random_span(gen)
    with pytest.raises(TypeError, match="other: expected"):
        span.compose("dense")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="other: expected a span with in_size 4"):
        span.compose(span)


def test_weights_of_another_dtype_are_refused(gen: torch.Generator) -> None:
    span = random_span(gen, dtype=torch.float32)
    message = re.escape("weight: expected dtype torch.float64 (that of w)")
    with pytest.raises(TypeError, match=message):
        span(torch.randn(3, dtype=torch.float64), torch.randn(5, dtype=torch.float64))
    with pytest.raises(TypeError, match="other: expected a span with weights of dtype"):
        span.compose(random_span(gen, 4, 2, 2, 5, torch.float64))


def test_indices_on_another_device_are_named() -> None:
    with pytest.raises(ValueError, match="target: expected a tensor on cpu"):
        Span(idx(0, 1), idx(0, 1).to("meta"), idx(0, 0), None, 2, 2, 1)
