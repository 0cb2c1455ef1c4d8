"""The design space: distinct expressions up to renaming, each compiling and running."""

import pytest
import torch

from prodint.algebra import complex_numbers, hadamard, quaternions
from prodint.interaction import compile, enumerate_interactions


def _canonical(expr) -> str:
    text = str(expr)
    for i, p in enumerate(expr.parameters()):
        text = text.replace(p.name, f"P{i}")
    return text


def test_counts_and_orders() -> None:
    algs = [hadamard(4), quaternions()]  # commutative and non-commutative
    exprs = enumerate_interactions(3, algs, channels=4)
    orders = [e.self_interaction_order for e in exprs]
    assert orders == sorted(orders)
    # order 1: one dense map; order 2: one product per algebra;
    # order 3: (1,2) pairs: 2 algebras x 2 inner products; commutative Hadamard merges
    # (1,2) and (2,1): 2 + 2*2 = 6
    assert orders.count(1) == 1 and orders.count(2) == 2 and orders.count(3) == 6


def test_no_duplicates_up_to_renaming() -> None:
    exprs = enumerate_interactions(4, [hadamard(4), complex_numbers(), quaternions()],
                                   channels=4, pointwise=("silu",))
    keys = [_canonical(e) for e in exprs]
    assert len(keys) == len(set(keys))
    assert max(e.self_interaction_order for e in exprs) == 4


def test_every_expression_compiles_and_runs() -> None:
    exprs = enumerate_interactions(3, [hadamard(4), quaternions()], channels=4,
                                   pointwise=("silu",))
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    for expr in exprs:
        m = compile(expr, dtype=torch.float64)
        out = m(x)
        assert out.shape == (2, 5, 4) and torch.isfinite(out).all()
        torch.testing.assert_close(out, m.reference(x))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_order: expected an int >= 1, received 0"):
        enumerate_interactions(0, [hadamard(2)])
    with pytest.raises(ValueError, match="algebras: expected at least one"):
        enumerate_interactions(2, [])
    with pytest.raises(ValueError, match="pointwise: expected names"):
        enumerate_interactions(2, [hadamard(2)], pointwise=("softmax",))
