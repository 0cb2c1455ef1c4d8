"""Suite ``hypercube``: the HyperCube training step against the published formulation, and
end-to-end runs.

- ``step n=…``: one full-batch objective (``forward``) and objective + gradient
  (``forward_backward``) at train fraction 0.5, float32: Z_97 addition (n = 97) and S_5
  (n = 120). ``published`` (the baseline) is a faithful re-implementation of the published
  step: the full table ``T[c, a, b]`` by one ``einsum('aki,bij,cjk->cab')`` over all ``n³``
  cells, the observed cells selected with ``index_select``, ``mse_loss(reduction='sum')``
  against one-hot targets, plus ``ε`` times the Gram-trace regularizer on the three mode
  unfoldings, differentiated by autograd. ``prodint`` is
  :func:`prodint.hypercube.model.loss_and_grad` (observed pairs only, hand-derived gradient;
  on the CPU the chunked ``"blas"`` backend) plus
  :func:`~prodint.hypercube.model.h_value_and_grad` (its ``forward`` is
  :func:`~prodint.hypercube.model.predict` on the observed pairs plus the Gram-trace ``H``);
  ``prodint-torch`` is the same step on the ``"torch"`` backend (one call per product over all
  pairs). Target: ≥ 5× at n = 97. The ``prodint*`` records carry the step's FLOPs
  (``12 m n³`` for ``m`` observed pairs, the O(n⁴) terms left out) and the fraction of the
  machine's matmul rate they reach: of the documented 187 GFLOP/s (2 threads) and of a 2048³
  float32 product timed in the same run, through torch (``matmul_gflops_torch``) and through
  numpy's BLAS (``matmul_gflops_numpy``, the library the ``"blas"`` backend calls).
- ``train …``: end-to-end runs with the default recipe (restarts included), S_4 and Z_97 at
  fraction 0.5 to convergence, S_5 at fraction 0.5 until 100% held-out accuracy (checked
  every 5 steps; target < 5 min). Each is one deterministic run, timed by its own clock: the
  first call trains and later calls return the cached result, and ``annotate`` writes the
  run's wall time into ``fwd_ms`` with steps, accuracy, ``h_ratio``, unitarity and the
  verdict in ``extra``.
- ``verdict``: the verdict over 5 seeds (fraction 1) for S_3, S_4, Z_6, Z_31,
  ``x² + y² mod 31`` and the non-group Latin square of order 5, run once like the ``train``
  cases; ``extra`` holds the verdicts per seed and whether all are right.

``--quick`` measures the step at n = 31 and 48, trains S_4 only and checks the verdict on
S_3, Z_6 and the order-5 Latin square with 2 seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.bench.harness import Case, Record, median_ms, timed_case
from prodint.hypercube.analyze import analyze_table
from prodint.hypercube.diagnostics import accuracy, diagnose
from prodint.hypercube.model import (
    Factors,
    Pairs,
    Workspace,
    h_value,
    h_value_and_grad,
    init_factors,
    loss_and_grad,
    one_hot_target,
    predict,
)
from prodint.hypercube.tables import make_table, split_cells
from prodint.hypercube.train import train

EPS = 0.1
FRACTION = 0.5
MATMUL_RATE = 187e9  # FLOP/s of a 2048³ float32 matmul on 2 threads

_RUNS: dict[str, dict[str, Any]] = {}


def _unfold(T: Tensor, idx: int) -> Tensor:
    """The published mode unfolding of a ``[n, n, n]`` factor along index ``idx``."""
    if idx == 0:
        return T.flatten(start_dim=1)
    if idx == 1:
        return T.permute(1, 0, 2).flatten(1)
    return T.flatten(start_dim=0, end_dim=1).T


def published_objective(A: Tensor, B: Tensor, C: Tensor, flat: Tensor, labels: Tensor,
                        eps: float) -> Tensor:
    """The published step's objective (see the module docstring).

    ``flat`` holds the observed cells as ``a·n + b`` and ``labels`` their symbols.
    """
    n = A.shape[0]
    W = torch.einsum("aki,bij,cjk->cab", A, B, C) / n  # the full table, n³ cells
    out = W.reshape(n, -1).index_select(-1, flat).T
    loss = F.mse_loss(out, F.one_hot(labels, n).to(out.dtype), reduction="sum")
    # The index shared by each pair of factors, as (tensor, position) twice: k, i, j.
    shared = (((A, 1), (C, 2)), ((A, 2), (B, 1)), ((B, 2), (C, 1)))
    reg = sum(torch.einsum("ij,ji->", _unfold(X, p) @ _unfold(X, p).T,
                           _unfold(Y, q) @ _unfold(Y, q).T) for (X, p), (Y, q) in shared)
    return loss + eps * reg / n


def step_flops(m: int, n: int) -> int:
    """FLOPs of the fast step's matrix products: six ``2 m n³`` contractions."""
    return 12 * m * n**3


def published_flops(n: int) -> int:
    """FLOPs of the published step: two ``2 n⁵`` contractions forward, four backward."""
    return 12 * n**5


def step_cases(task: str, n_arg: dict[str, int], device: str) -> Iterator[Case]:
    """The published step against prodint's at fraction 0.5 on one task."""
    table = make_table(task, **n_arg)
    n = int(table.shape[0])
    mask = split_cells(n, FRACTION, seed=0)
    factors = init_factors(n, torch.Generator().manual_seed(0), torch.float32, device)
    target = one_hot_target(table).to(device)
    pairs = Pairs.from_mask(mask.to(device), target)
    flat = (pairs.a * n + pairs.b).to(device)
    labels = table.to(device)[pairs.a, pairs.b]
    leaves = [x.clone().requires_grad_() for x in factors.tensors()]
    ws = Workspace()
    name = f"step n={n}"
    params = {"task": task, "n": n, "train_fraction": FRACTION, "pairs": pairs.m, "eps": EPS,
              "dtype": "float32", "device": device, "flops_step": step_flops(pairs.m, n),
              "flops_published": published_flops(n)}

    def prodint_forward() -> Tensor:
        loss = (predict(factors, pairs.a, pairs.b) - pairs.target).square().sum()
        return loss + EPS * h_value(factors)

    def prodint_step(backend: str) -> Callable[[], tuple[Tensor, ...]]:
        def step() -> tuple[Tensor, ...]:
            loss, _, grads = loss_and_grad(factors, pairs, ws, backend=backend)
            h, h_grads = h_value_and_grad(factors)
            return (loss + EPS * h,
                    *(g.add_(hg, alpha=EPS) for g, hg in zip(grads, h_grads, strict=True)))
        return step

    yield timed_case(name, "published", params,
                     lambda: published_objective(*leaves, flat, labels, EPS), leaves,
                     baseline="published")
    yield Case(name, "prodint", params, prodint_forward, prodint_step("auto"),
               baseline="published")
    yield Case(name, "prodint-torch", params, prodint_forward, prodint_step("torch"),
               baseline="published")


def _once(key: str, run: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """A forward that runs ``run`` on its first call only and records its wall time."""

    def forward() -> dict[str, Any]:
        if key not in _RUNS:
            start = time.perf_counter()
            out = run()
            out["run_seconds"] = round(time.perf_counter() - start, 3)
            _RUNS[key] = out
        return _RUNS[key]

    return forward


def _train_run(task: str, kwargs: dict[str, int], device: str,
               until_held_out: bool) -> dict[str, Any]:
    table = make_table(task, **kwargs)
    n = int(table.shape[0])
    mask = split_cells(n, FRACTION, seed=0)

    def held_out_perfect(step: int, factors: Factors) -> bool:
        return step % 5 == 0 and accuracy(factors, table, mask)[1] == 1.0

    result = train(one_hot_target(table), mask, seed=0, device=device,
                   monitor=held_out_perfect if until_held_out else None)
    best = result.best
    train_acc, test_acc = accuracy(best.factors, table, mask)
    d = diagnose(best.factors, table, mask, converged=best.converged,
                 train_loss=best.train_loss)
    return {"steps": result.steps, "attempts": len(result.attempts),
            "converged": best.converged, "train_loss": best.train_loss,
            "train_accuracy": train_acc, "test_accuracy": test_acc, "h_ratio": d.h_ratio,
            "unitarity_error": d.unitarity_error, "is_group_isotope": d.is_group_isotope,
            "seconds_per_step": round(result.seconds / max(result.steps, 1), 4)}


VERDICT_TASKS: tuple[tuple[str, dict[str, int], bool], ...] = (
    ("s3", {}, True), ("s4", {}, True), ("z6", {}, True), ("zp-add", {"p": 31}, True),
    ("zp-sq-sum", {"p": 31}, False), ("latin5", {}, False))


def _verdict_run(tasks: tuple[tuple[str, dict[str, int], bool], ...],
                 seeds: int) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for task, kwargs, expected in tasks:
        label = task + "".join(f" {k}={v}" for k, v in kwargs.items())
        verdicts, ratios = [], []
        for seed in range(seeds):
            d = analyze_table(make_table(task, **kwargs), train_fraction=1.0,
                              seed=seed).diagnostics
            verdicts.append(d.is_group_isotope)
            ratios.append(round(d.h_ratio, 5))
        rows[label] = {"expected": expected, "verdicts": verdicts, "h_ratio": ratios,
                       "all_right": all(v is expected for v in verdicts)}
    return {"seeds": seeds, "tasks": rows, "all_right": all(r["all_right"]
                                                            for r in rows.values())}


def train_case(task: str, kwargs: dict[str, int], device: str = "cpu",
               until_held_out: bool = False) -> Case:
    """One end-to-end run at fraction 0.5 (to convergence, or to 100% held-out accuracy)."""
    label = task + "".join(f" {k}={v}" for k, v in kwargs.items())
    name = f"train {label} f={FRACTION}" + (" to 100% held-out" if until_held_out else "")
    forward = _once(name, lambda: _train_run(task, kwargs, device, until_held_out))
    return Case(name, "prodint", {"task": label, "train_fraction": FRACTION, "seed": 0,
                                  "device": device}, forward, None, baseline="prodint")


def verdict_case(tasks: tuple[tuple[str, dict[str, int], bool], ...], seeds: int) -> Case:
    """The verdict over ``seeds`` seeds for each task (fraction 1)."""
    name = f"verdict {seeds} seeds"
    return Case(name, "prodint", {"seeds": seeds, "train_fraction": 1.0},
                _once(name, lambda: _verdict_run(tasks, seeds)), None, baseline="prodint")


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    steps = (("zn", {"n": 31}), ("zn", {"n": 48})) if quick else (
        ("zp-add", {"p": 97}), ("s5", {}))
    for task, kwargs in steps:
        yield from step_cases(task, kwargs, device)
    runs = [("s4", {}, False)] if quick else [
        ("s4", {}, False), ("zp-add", {"p": 97}, False), ("s5", {}, True)]
    for task, kwargs, until in runs:
        yield train_case(task, kwargs, device, until)
    if quick:
        yield verdict_case(tuple(t for t in VERDICT_TASKS if t[0] in ("s3", "z6", "latin5")), 2)
    else:
        yield verdict_case(VERDICT_TASKS, 5)


def annotate(records: list[Record]) -> None:
    """FLOP rates of the step; the single-run results of the ``train`` and ``verdict`` cases."""
    x = torch.randn(2048, 2048)
    y = x.numpy()
    measured = {"torch": 2 * 2048**3 / (median_ms(lambda: x @ x) / 1e3),
                "numpy": 2 * 2048**3 / (median_ms(lambda: y @ y) / 1e3)}
    for r in records:
        if r.name.startswith("step") and r.fwd_bwd_ms:
            ours = r.impl.startswith("prodint")
            flops = r.params["flops_step" if ours else "flops_published"]
            rate = flops / (r.fwd_bwd_ms / 1e3)
            r.extra["gflops"] = round(rate / 1e9, 1)
            for lib, value in measured.items():
                r.extra[f"matmul_gflops_{lib}"] = round(value / 1e9, 1)
            if ours:
                r.extra["fraction_of_187_gflops"] = round(rate / MATMUL_RATE, 3)
                for lib, value in measured.items():
                    r.extra[f"fraction_of_{lib}_matmul"] = round(rate / value, 3)
        elif r.name in _RUNS:
            run = _RUNS[r.name]
            r.fwd_ms = round(run["run_seconds"] * 1e3, 1)
            r.extra.update(run)
