"""SparsePattern: the CSR pattern of a span and its values."""

from __future__ import annotations

import pytest
import torch

from prodint.spans import Span, conv
from prodint.sparse import SparsePattern

F64 = torch.float64


def _span() -> Span:
    # elements 0 and 2 land on the same entry (row 1, column 0): their terms add up
    return Span(torch.tensor([0, 2, 0, 1]), torch.tensor([1, 0, 1, 2]), torch.tensor([0, 1, 2, 2]),
                torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=F64), 3, 3, 3)


def test_values_sum_the_elements_of_one_entry() -> None:
    w = torch.tensor([2.0, 5.0, 7.0], dtype=F64)
    pattern = SparsePattern(_span())
    assert pattern.nnz == 3
    expected = torch.zeros(3, 3, dtype=F64)
    expected[1, 0] = 1.0 * 2.0 + 0.5 * 7.0
    expected[0, 2] = -2.0 * 5.0
    expected[2, 1] = 3.0 * 7.0
    assert torch.equal(pattern.dense(w), expected)
    assert torch.equal(pattern.matrix(w).to_dense(), expected)
    assert pattern.crow.tolist() == [0, 1, 2, 3]


def test_matrix_product_is_the_span_application_and_differentiable() -> None:
    span = conv((7, 6), (3, 2), stride=(2, 1), padding=(1, 0))
    g = torch.Generator().manual_seed(0)
    w = torch.randn(span.param_size, dtype=F64, generator=g, requires_grad=True)
    x = torch.randn(4, span.in_size, dtype=F64, generator=g)
    pattern = SparsePattern(span)
    y = (pattern.matrix(w) @ x.T).T
    assert torch.allclose(y, span(w, x), atol=1e-12)
    (grad,) = torch.autograd.grad(y.square().sum(), w)
    w2 = w.detach().clone().requires_grad_()
    (expected,) = torch.autograd.grad(span(w2, x).square().sum(), w2)
    assert torch.allclose(grad, expected, atol=1e-10)


def test_bad_arguments_are_refused() -> None:
    pattern = SparsePattern(_span())
    with pytest.raises(TypeError, match=r"^span:"):
        SparsePattern("span")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^w:"):
        pattern.values(torch.ones(4, dtype=F64))
    with pytest.raises(TypeError, match=r"^w:"):
        pattern.values(torch.ones(3, dtype=torch.float32))
