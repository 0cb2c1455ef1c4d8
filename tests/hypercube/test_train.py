"""The recipe: convergence on a small group, determinism, restarts, argument checks."""

import itertools

import pytest
import torch

from prodint.groups import cyclic
from prodint.hypercube.model import one_hot_target
from prodint.hypercube.tables import split_cells
from prodint.hypercube.train import Recipe, train


def test_small_group_converges_to_unitary_factors() -> None:
    table = cyclic(5).table
    mask = split_cells(5, 1.0, seed=0)
    result = train(one_hot_target(table), mask, seed=0)
    best = result.best
    assert best.converged and best.train_loss < 1e-7
    assert abs(best.h_ratio - 1) < 5e-3
    history = best.history
    assert len(history.loss) == best.steps
    assert history.eps[0] == 0.1 and history.eps[-1] == 0.0
    eps = history.eps
    assert all(b <= a for a, b in itertools.pairwise(eps))  # ε never grows


def test_training_is_deterministic_for_a_seed() -> None:
    table = cyclic(4).table
    mask = split_cells(4, 0.75, seed=1)
    recipe = Recipe(max_steps=60, restarts=1)
    runs = [train(one_hot_target(table), mask, seed=7, recipe=recipe) for _ in range(2)]
    for x, y in zip(runs[0].best.factors.tensors(), runs[1].best.factors.tensors(), strict=True):
        assert torch.equal(x, y)
    assert runs[0].attempts[0].history.loss == runs[1].attempts[0].history.loss
    other = train(one_hot_target(table), mask, seed=8, recipe=recipe)
    assert not torch.equal(other.best.factors.A, runs[0].best.factors.A)


def test_unconverged_attempts_are_restarted_with_fresh_inits() -> None:
    table = cyclic(4).table
    mask = split_cells(4, 1.0, seed=0)
    result = train(one_hot_target(table), mask, seed=0, recipe=Recipe(max_steps=5, restarts=2))
    assert len(result.attempts) == 3 and result.steps == 15
    assert not any(a.converged for a in result.attempts)
    first = [a.history.loss[0] for a in result.attempts]
    assert len(set(first)) == 3  # each attempt starts from its own init


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": 0.0}, "lr: expected a positive number"),
    ({"momentum": 1.0}, r"momentum: expected a value in \[0, 1\)"),
    ({"eps_decay": 1.0}, r"eps_decay: expected a value in \(0, 1\)"),
    ({"eps": -1.0}, "eps: expected a non-negative number"),
    ({"max_steps": 0}, "max_steps, restarts"),
])
def test_recipe_is_checked(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        Recipe(**kwargs)


def test_train_checks_its_inputs() -> None:
    target = one_hot_target(cyclic(3).table)
    with pytest.raises(ValueError, match=r"target: expected a \[n, n, n\] tensor"):
        train(target[:, :, :2], torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask: expected a \[3, 3\] bool tensor"):
        train(target, torch.zeros(3, 3, dtype=torch.bool))
