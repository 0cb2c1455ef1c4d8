"""The training loop: convergence on a small group, determinism, restarts, the first steps at
100% accuracy, argument checks."""

import importlib
import itertools
import math

import pytest
import torch

from prodint.groups import cyclic, symmetric
from prodint.hypercube.model import Factors, one_hot_target
from prodint.hypercube.recipe import Recipe
from prodint.hypercube.tables import split_cells
from prodint.hypercube.train import Attempt, History, TrainResult, train


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


def test_train_checks_its_inputs() -> None:
    target = one_hot_target(cyclic(3).table)
    with pytest.raises(ValueError, match=r"target: expected shape \[n, n, n\]"):
        train(target[:, :, :2], torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask: expected at least one True cell"):
        train(target, torch.zeros(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"target: expected finite values"):
        train(torch.where(target == 1, float("nan"), target), torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"mask: expected dtype bool"):
        train(target, torch.ones(3, 3))
    with pytest.raises(ValueError, match=r"seed: expected an int in \[0, 18446744073709551615\]"):
        train(target, torch.ones(3, 3, dtype=torch.bool), seed=10**30)
    with pytest.raises(TypeError, match=r"recipe: expected a Recipe or None"):
        train(target, torch.ones(3, 3, dtype=torch.bool), recipe={"lr": 0.1})
    with pytest.raises(TypeError, match=r"progress: expected a callable or None"):
        train(target, torch.ones(3, 3, dtype=torch.bool), progress="print")
    with pytest.raises(ValueError, match=r"device: expected a device such as 'cpu' or "
                                         r"'cuda:0', received 'no-such-device'"):
        train(target, torch.ones(3, 3, dtype=torch.bool), device="no-such-device")
    with pytest.raises(ValueError, match=r"mask: expected a tensor that holds data"):
        train(target, torch.ones(3, 3, dtype=torch.bool, device="meta"))


def test_train_refuses_factors_beyond_the_memory_budget(monkeypatch) -> None:
    monkeypatch.setenv("PRODINT_MAX_BYTES", str(1 << 20))
    big = torch.zeros(1).expand(40, 40, 40)  # a view: the target itself costs nothing
    with pytest.raises(ValueError, match=r"target: expected a size for which set of factor stacks "
                                         r"fits in 1\.0 MiB \(PRODINT_MAX_BYTES\), received "
                                         r"one that would need about 3\.2 MiB"):
        train(big, torch.ones(40, 40, dtype=torch.bool))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_a_diverging_recipe_stops_with_an_error_instead_of_nan_factors() -> None:
    target = one_hot_target(cyclic(3).table)
    with pytest.raises(FloatingPointError, match=r"training diverged at step 2"):
        train(target, torch.ones(3, 3, dtype=torch.bool),
              recipe=Recipe(lr=1e300, max_steps=5, restarts=0, dtype=torch.float64))


def _held_out_accuracy(factors: Factors, table: torch.Tensor, mask: torch.Tensor) -> float:
    """Held-out accuracy from the full table by an einsum (independent of the fast paths)."""
    T = torch.einsum("aij,bjk,cki->abc", *factors.tensors())
    return float((T.argmax(-1) == table)[~mask].double().mean())


def test_first_perfect_steps_are_those_of_an_independent_replay() -> None:
    table = symmetric(3).table
    mask = split_cells(6, 0.7, seed=0)
    accuracies = [math.nan]  # before any update: not seen by the monitor

    def monitor(step: int, factors: Factors) -> bool:
        assert step == len(accuracies)
        accuracies.append(_held_out_accuracy(factors, table, mask))
        return False

    recipe = Recipe(restarts=0, dtype=torch.float64)
    result = train(one_hot_target(table, torch.float64), mask, seed=0, recipe=recipe,
                   monitor=monitor)
    best = result.best
    assert best.held_out_perfect_step == accuracies.index(1.0) > 0
    assert best.train_perfect_step == best.history.train_accuracy.index(1.0)
    assert result.held_out_perfect == (best.held_out_perfect_step, best.held_out_perfect_seconds)
    assert 0 < best.held_out_perfect_seconds < best.seconds
    stopped = train(one_hot_target(table, torch.float64), mask, seed=0, recipe=recipe,
                    until_held_out=True)
    assert stopped.best.held_out_perfect_step == best.held_out_perfect_step
    assert stopped.steps == best.held_out_perfect_step + 1 and not stopped.best.converged
    assert _held_out_accuracy(stopped.best.factors, table, mask) == 1.0


def test_first_perfect_counts_the_earlier_attempts() -> None:
    def attempt(steps: int, seconds: float, first: int | None) -> Attempt:
        return Attempt(Factors(*torch.zeros(3, 2, 2, 2)), steps, False, 1.0, 1.0, seconds,
                       History(), None, None, first, None if first is None else seconds / 2)

    result = TrainResult([attempt(10, 4.0, None), attempt(6, 2.0, 3)], 1)
    assert result.held_out_perfect == (13, 5.0) and result.train_perfect is None
    assert TrainResult([attempt(10, 4.0, None)], 0).held_out_perfect is None


def test_a_full_mask_records_no_held_out_step() -> None:
    table = cyclic(3).table
    result = train(one_hot_target(table), torch.ones(3, 3, dtype=torch.bool), seed=0,
                   recipe=Recipe(max_steps=50, restarts=0))
    assert result.held_out_perfect is None and result.train_perfect is not None
    with pytest.raises(TypeError, match=r"until_held_out: expected a bool, received 1"):
        train(one_hot_target(table), torch.ones(3, 3, dtype=torch.bool), until_held_out=1)


def test_drift_is_zero_on_the_scaled_unitary_family() -> None:
    """``c·ρ`` has loss ``(1 − c³)²`` per pair and ``H/3n² = c⁴``: no drift; 0.1% more ``H``
    is a drift of 1e-3; a loss of 1 or more has none."""
    from prodint.hypercube.train import drift

    for c in (0.5, 0.8665, 0.99):
        loss = (1 - c**3) ** 2
        assert abs(drift(loss, c**4)) < 1e-12
        assert drift(loss, 1.001 * c**4) == pytest.approx(1e-3, rel=1e-9)
    assert drift(1.0, 0.5) is None and drift(4.0, 0.5) is None


def test_a_drifting_attempt_is_abandoned_while_restarts_remain(monkeypatch) -> None:
    """An attempt whose drift exceeds ``drift_tol`` stops ``drift_steps`` steps into its
    anneal and a fresh one follows; the last attempt runs to its end; the first 100%
    held-out step still counts from the start of training; a target that is not one-hot
    never drifts."""
    train_module = importlib.import_module("prodint.hypercube.train")
    table = symmetric(3).table
    mask = split_cells(6, 0.75, seed=0)
    monkeypatch.setattr(train_module, "drift", lambda loss, h: 0.5)
    result = train(one_hot_target(table), mask, seed=0, recipe=Recipe(restarts=2))
    assert [a.abandoned for a in result.attempts] == [True, True, False]
    for a in result.attempts[:2]:
        start = next(i for i, e in enumerate(a.history.eps) if e < 0.1)
        assert a.steps == start + 1 + 25 and not a.converged
    assert result.best is result.attempts[2] and result.best.converged
    assert result.held_out_perfect == (result.attempts[0].held_out_perfect_step,
                                       result.attempts[0].held_out_perfect_seconds)
    monkeypatch.setattr(train_module, "drift", lambda loss, h: 1e-4)  # under drift_tol
    calm = train(one_hot_target(table), mask, seed=0, recipe=Recipe(restarts=2))
    assert len(calm.attempts) == 1
    monkeypatch.setattr(train_module, "drift", lambda loss, h: 0.5)
    soft = one_hot_target(table) * 0.9  # not an operation table's target
    assert not any(a.abandoned for a in train(soft, mask, seed=0,
                                              recipe=Recipe(restarts=1)).attempts)
