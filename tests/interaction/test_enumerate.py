"""The design space: distinct expressions up to renaming, each compiling and running."""

import time

import pytest
import torch

from prodint.algebra import complex_numbers, hadamard, quaternions
from prodint.interaction import compile, enumerate_interactions
from prodint.interaction.enumerate import count_interactions


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
    with pytest.raises(ValueError, match="max_order: expected a positive int, received 0"):
        enumerate_interactions(0, [hadamard(2)])
    with pytest.raises(TypeError, match="max_order: expected an int, received True"):
        enumerate_interactions(True, [hadamard(2)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="algebras: expected at least one"):
        enumerate_interactions(2, [])
    with pytest.raises(TypeError, match=r"algebras\[0\]: expected an algebra"):
        enumerate_interactions(2, ["hadamard"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"pointwise\[0\]: expected one of"):
        enumerate_interactions(2, [hadamard(2)], pointwise=("softmax",))


def test_the_set_is_counted_before_it_is_built() -> None:
    algebras = [hadamard(2), quaternions()]
    commutative = [True, False]
    # the count is exact: it is the number of expressions built
    for order in (1, 2, 3, 4):
        built = enumerate_interactions(order, algebras, channels=2, pointwise=("silu",))
        assert count_interactions(order, commutative, 1) == len(built)
    assert count_interactions(4, commutative, 1) == 225
    # an astronomical set is refused at once, with its size
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"max_order: expected at most 10,000 interactions, "
                                         r"received arguments that give about"):
        enumerate_interactions(40, algebras)
    with pytest.raises(ValueError, match="max_order: expected at most"):
        enumerate_interactions(10**30, algebras)
    assert time.perf_counter() - start < 1.0
    with pytest.raises(ValueError, match=r"channels: expected a size for which largest projection "
                                         r"fits in"):
        enumerate_interactions(2, algebras, channels=2**40)
