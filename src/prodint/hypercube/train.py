"""Training recipe: full-batch SGD with momentum, an ε schedule, a stopping rule and restarts.

One attempt:

1. Init ``randn/√n`` for ``A, B, C``; full-batch SGD (``lr = 0.5``, momentum ``0.9``) on
   ``L + εH`` with the gradient rescaled to norm at most ``clip · |Ω| = 0.2 |Ω|`` (``L`` is
   summed over the ``|Ω|`` observed pairs, so its gradient grows with them).
2. **Fit phase**, ``ε = 0.1``: the factors fit the observed cells and ``H`` pulls them
   towards a balanced gauge. The phase ends when the factors are *balanced* — the relative
   imbalance ``max ‖Lˣ − Rʸ‖/‖Lˣ‖`` of the Gram sums (:func:`~prodint.hypercube.model.imbalance`)
   is below ``balance_tol = 1e-3`` — and every observed cell is predicted right; or, failing
   that, when the objective has *settled* (``L + εH`` changed by less than ``settle_tol = 1e-5``
   relative over ``window = 50`` steps): a stationary point that cannot balance, as the
   non-Latin tables reach.
3. **Anneal phase**: ``ε ← 0.95 ε`` every step, then ``ε = 0`` once below ``eps_min = 1e-6``.
   Switching ``ε`` off at once is a jolt (the factors are shrunk by ``ε``; the loss gradient
   then jumps, is clipped and unbalances them: ``H/3n²`` ends 0.2-2% above 1 on S_4). A
   geometric decay lets the factors follow the minimizers of ``L + εH`` as ``ε → 0``, which
   for a group are the scaled unitary regular representation, so they end unitary.
4. **Stop** when ``ε = 0`` and the training loss per observed pair
   ``L/|Ω| < loss_tol = 1e-7`` (converged); or, not converged, when the loss has not halved in
   the last ``patience = 300`` steps with ``ε = 0`` (a plateau: no exact fit there) or after
   ``max_steps``.

Restarts: a converged attempt whose ``h_ratio = H/3n²`` is above ``1 + restart_h_tol``
(0.5%), or an attempt that did not converge, is followed by a fresh attempt (new init drawn
from the same seeded generator), at most ``restarts`` times. A group table reaches
``h_ratio ≈ 1``; a run stuck near another critical point (e.g. Z_5 settling at 1.4) is
retried rather than trusted. Restarts also stop when an attempt ends where an earlier one
ended (same convergence, ``h_ratio`` within ``1e-3``): a non-group reproduces its value above
threshold, and more attempts would only repeat it. The result is the best attempt:
converged first, then lowest ``h_ratio``, then lowest loss.

Drift: for an operation table (one-hot target rows), while restarts remain, an attempt is
abandoned ``drift_steps = 25`` steps into its anneal when ``H`` is more than
``drift_tol = 0.1%`` above that of the scaled unitary representation ``c·ρ`` at the same
loss (``L/|Ω| = (1 − c³)²``, ``H/3n² = c⁴``: :func:`drift`), and a fresh attempt follows.
Such an attempt leaves the unitary point as ``ε`` decays and converges to another
factorization of the observed cells, with ``H`` above the representation's and the verdict
false (S_5 at fraction 0.5: see :class:`~prodint.hypercube.recipe.Recipe`); one that stays
has ``H`` at or below ``c⁴`` there. An abandoned attempt counts as not converged; the last
attempt always runs to its end.

Everything is deterministic for a given seed on the CPU. Tables with fewer than
``SINGLE_THREAD_BELOW = 40`` symbols train on one CPU thread (restored afterwards): their
matrices are too small to share, and on a busy machine thread synchronization made a step at
n = 6 about 100x slower than on one thread.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from prodint.checks import (
    check_bool,
    check_callable,
    check_device,
    check_instance,
    check_same_device,
    check_seed,
    check_tensor,
)
from prodint.hypercube.arguments import check_factors_memory, check_mask
from prodint.hypercube.diagnostics import HeldOutCheck
from prodint.hypercube.model import (
    Factors,
    Pairs,
    Workspace,
    imbalance,
    init_factors,
    objective_and_grad,
)
from prodint.hypercube.recipe import Recipe

SINGLE_THREAD_BELOW = 40


@contextlib.contextmanager
def _threads_for(n: int, device: torch.device) -> Iterator[None]:
    if device.type != "cpu" or n >= SINGLE_THREAD_BELOW:
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@dataclass
class History:
    """Per-step records of one attempt (lists of equal length)."""

    loss: list[float] = field(default_factory=list)
    h_ratio: list[float] = field(default_factory=list)
    eps: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    imbalance: list[float] = field(default_factory=list)


@dataclass
class Attempt:
    """One training run from one initialization.

    ``train_perfect_step``/``held_out_perfect_step``: the updates after which every observed
    (held-out) pair was first predicted right, checked before every update; ``..._seconds``:
    the wall time from the start of the attempt to that check (``None``: never).
    """

    factors: Factors
    steps: int
    converged: bool
    train_loss: float
    h_ratio: float
    seconds: float
    history: History
    train_perfect_step: int | None = None
    train_perfect_seconds: float | None = None
    held_out_perfect_step: int | None = None
    held_out_perfect_seconds: float | None = None
    abandoned: bool = False


def drift(train_loss: float, h_ratio: float) -> float | None:
    """``H/3n²`` relative to ``c⁴``, that of the scaled unitary representation ``c·ρ`` at the
    same loss per observed pair ``(1 − c³)²`` of a one-hot target, minus 1 (``None`` for a
    loss of 1 or more, where no ``c > 0`` gives it)."""
    root = math.sqrt(train_loss)
    if not root < 1:
        return None
    return h_ratio / (1 - root) ** (4 / 3) - 1


@dataclass
class TrainResult:
    """All attempts and the chosen one (:attr:`best`)."""

    attempts: list[Attempt]
    best_index: int

    @property
    def best(self) -> Attempt:
        """The chosen attempt."""
        return self.attempts[self.best_index]

    @property
    def steps(self) -> int:
        """Steps over all attempts."""
        return sum(a.steps for a in self.attempts)

    @property
    def seconds(self) -> float:
        """Wall time over all attempts."""
        return sum(a.seconds for a in self.attempts)

    def _first(self, kind: str) -> tuple[int, float] | None:
        """Steps and seconds from the start of training to the first attempt's ``kind``."""
        steps, seconds = 0, 0.0
        for a in self.attempts:
            step = getattr(a, f"{kind}_perfect_step")
            if step is not None:
                return steps + step, seconds + getattr(a, f"{kind}_perfect_seconds")
            steps, seconds = steps + a.steps, seconds + a.seconds
        return None

    @property
    def held_out_perfect(self) -> tuple[int, float] | None:
        """``(steps, seconds)`` from the start of training to 100% held-out accuracy (earlier
        attempts included; ``None``: never)."""
        return self._first("held_out")

    @property
    def train_perfect(self) -> tuple[int, float] | None:
        """``(steps, seconds)`` from the start of training to 100% train accuracy."""
        return self._first("train")


Progress = Callable[[int, int, dict[str, float]], None]
"""``progress(attempt, step, info)`` after every step; ``info`` has loss, h_ratio, eps, acc."""

Monitor = Callable[[int, Factors], bool]
"""``monitor(step, factors)`` after every update; returning ``True`` ends training there."""


def _attempt(factors: Factors, pairs: Pairs, recipe: Recipe,
             progress: Callable[[int, dict[str, float]], None] | None,
             monitor: Monitor | None, held_out: HeldOutCheck | None,
             until_held_out: bool, watch_drift: bool) -> tuple[Attempt, bool]:
    n, m = factors.n, pairs.m
    ws = Workspace()
    velocity = [torch.zeros_like(x) for x in factors.tensors()]
    target_symbol = pairs.target.argmax(-1)
    history = History()
    eps, annealing, converged = recipe.eps, False, False
    objective: list[float] = []
    best_loss, best_step = math.inf, 0
    start = time.perf_counter()
    step, stopped, abandoned, anneal_start = 0, False, False, 0
    firsts: dict[str, tuple[int, float]] = {}
    for step in range(1, recipe.max_steps + 1):
        loss, h, logits, grads, grams = objective_and_grad(factors, pairs, eps, ws)
        train_loss = float(loss) / m
        h_ratio = float(h) / (3 * n * n)
        if not (math.isfinite(train_loss) and math.isfinite(h_ratio)):
            raise FloatingPointError(f"training diverged at step {step}: loss per pair "
                                     f"{train_loss}, H/3n² {h_ratio} (lower recipe.lr)")
        accuracy = float((logits.argmax(-1) == target_symbol).to(torch.float64).mean())
        if accuracy == 1.0 and "train" not in firsts:
            firsts["train"] = (step - 1, time.perf_counter() - start)
        if held_out is not None and "held_out" not in firsts and held_out.all_right(factors):
            firsts["held_out"] = (step - 1, time.perf_counter() - start)
            if until_held_out:
                stopped = True
        imb = imbalance(grams)
        for key, value in (("loss", train_loss), ("h_ratio", h_ratio), ("eps", eps),
                           ("train_accuracy", accuracy), ("imbalance", imb)):
            getattr(history, key).append(value)
        if progress is not None:
            progress(step, {"loss": train_loss, "h_ratio": h_ratio, "eps": eps,
                            "train_accuracy": accuracy})
        objective.append(float(loss) + eps * float(h))
        if stopped:
            break
        if not anneal_start and eps < recipe.eps:
            anneal_start = step
        if (watch_drift and anneal_start and step == anneal_start + recipe.drift_steps
                and (excess := drift(train_loss, h_ratio)) is not None
                and excess > recipe.drift_tol):
            abandoned = True
            break
        if eps == 0:
            if train_loss < recipe.loss_tol:
                converged = True
                break
            if train_loss < best_loss / 2:
                best_loss, best_step = train_loss, step
            if step - best_step >= recipe.patience:
                break
        norm = math.sqrt(sum(float(g.square().sum()) for g in grads))
        scale = min(1.0, recipe.clip * m / norm) if norm > 0 else 1.0
        for x, v, g in zip(factors.tensors(), velocity, grads, strict=True):
            v.mul_(recipe.momentum).add_(g, alpha=scale)
            x.sub_(v, alpha=recipe.lr)
        if monitor is not None and monitor(step, factors):
            stopped = True
            break
        settled = len(objective) > recipe.window and (
            abs(objective[-1] - objective[-1 - recipe.window])
            <= recipe.settle_tol * abs(objective[-1]))
        annealing = annealing or settled or (imb < recipe.balance_tol and accuracy == 1.0)
        if annealing:
            eps = eps * recipe.eps_decay if eps * recipe.eps_decay >= recipe.eps_min else 0.0
    train_first, held_first = firsts.get("train", (None, None)), firsts.get("held_out",
                                                                           (None, None))
    attempt = Attempt(factors, step, converged, history.loss[-1], history.h_ratio[-1],
                      time.perf_counter() - start, history, *train_first, *held_first,
                      abandoned)
    return attempt, stopped


def _rank(attempt: Attempt) -> tuple[bool, float, float]:
    return (not attempt.converged, attempt.h_ratio if attempt.converged else math.inf,
            attempt.train_loss)


def train(target: Tensor, mask: Tensor, *, seed: int = 0, recipe: Recipe | None = None,
          progress: Progress | None = None, monitor: Monitor | None = None,
          device: str | torch.device = "cpu", until_held_out: bool = False) -> TrainResult:
    """Fit ``T ≈ target`` on the cells in ``mask`` with the recipe and restarts.

    Args:
        target: ``[n, n, n]`` target ``Y`` (one-hot rows for an operation table).
        mask: ``[n, n]`` bool, the observed pairs ``Ω`` (at least one).
        seed: seeds the generator of every initialization.
        recipe: hyper-parameters (default :class:`Recipe`).
        progress: called after every step as ``progress(attempt, step, info)``.
        monitor: called after every update as ``monitor(step, factors)``; ``True`` ends the
            training (e.g. at 100% held-out accuracy), the attempt counted as not converged.
        device: where to train (a device name or ``torch.device`` present on this machine).
        until_held_out: end the training once every held-out cell (outside ``mask``) is
            predicted right (the attempt counted as not converged). Either way the step and
            time of the first 100% held-out and train accuracy are recorded
            (:class:`Attempt`; a :class:`~prodint.hypercube.diagnostics.HeldOutCheck`).

    Raises:
        TypeError: ``target``/``mask`` not tensors (``target`` real, ``mask`` bool),
            ``seed`` not an int, ``recipe`` not a :class:`Recipe`, ``progress``/``monitor``
            not callable, ``device`` not a device name, ``until_held_out`` not a bool.
        ValueError: ``target`` not ``[n, n, n]`` of finite values, ``mask`` not ``[n, n]``
            with a True cell, the two on different devices, ``seed`` outside
            ``[0, 2**64 - 1]``, a device this machine lacks, or factors too large for the
            memory budget.
        FloatingPointError: the loss or ``H`` stopped being finite (a ``recipe.lr`` too
            large).
    """
    target = check_tensor(target, "target", rank=3, layout="[n, n, n]", dtypes=None)
    n = int(target.shape[0])
    if n < 1 or tuple(target.shape) != (n, n, n):
        raise ValueError(f"target: expected shape [n, n, n] with n >= 1, received "
                         f"{tuple(target.shape)}")
    if target.is_complex():
        raise TypeError(f"target: expected real values, received dtype {target.dtype}")
    if target.device.type != "meta" and not bool(torch.isfinite(target).all()):
        raise ValueError("target: expected finite values, received NaN or inf")
    mask = check_mask(mask, n)
    check_same_device(target=target, mask=mask)
    if target.device.type == "meta":
        raise ValueError("target: expected a tensor that holds data, received one on meta")
    seed = check_seed(seed)
    recipe = check_instance(recipe, "recipe", Recipe, optional=True) or Recipe()
    check_callable(progress, "progress", optional=True)
    check_callable(monitor, "monitor", optional=True)
    device = check_device(device, optional=False)
    until_held_out = check_bool(until_held_out, "until_held_out")
    check_factors_memory(n, torch.empty(0, dtype=recipe.dtype).element_size(), "target")
    pairs = Pairs.from_mask(mask.to(device), target.to(device=device, dtype=recipe.dtype))
    a, b = (~mask).nonzero(as_tuple=True)
    held_out = (HeldOutCheck(a.to(device), b.to(device), target[a, b].argmax(-1).to(device))
                if a.numel() else None)
    one_hot = bool(((target == 0) | (target == 1)).all() and (target.sum(-1) == 1).all())
    generator = torch.Generator().manual_seed(seed)
    attempts: list[Attempt] = []
    with _threads_for(n, device):
        for k in range(recipe.restarts + 1):
            factors = init_factors(n, generator, recipe.dtype, device)

            def report(step: int, info: dict[str, float], k: int = k) -> None:
                if progress is not None:
                    progress(k, step, info)

            attempt, stopped = _attempt(factors, pairs, recipe, report, monitor, held_out,
                                        until_held_out, one_hot and k < recipe.restarts)
            repeated = not attempt.abandoned and any(
                not a.abandoned and a.converged == attempt.converged
                and abs(a.h_ratio - attempt.h_ratio) < 1e-3 for a in attempts)
            attempts.append(attempt)
            accepted = attempt.converged and attempt.h_ratio <= 1 + recipe.restart_h_tol
            if stopped or repeated or accepted:
                break
    best = min(range(len(attempts)), key=lambda i: _rank(attempts[i]))
    return TrainResult(attempts, best)
