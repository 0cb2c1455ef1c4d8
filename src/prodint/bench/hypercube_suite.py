"""Suite ``hypercube``: the HyperCube training step against the published formulation, and
end-to-end runs.

- ``step n=…``: one full-batch objective (``forward``) and objective + gradient
  (``forward_backward``) at train fraction 0.5, float32: Z_97 addition (n = 97) and S_5
  (n = 120). ``published`` (the baseline) is a faithful re-implementation of the published
  step: the full table ``T[c, a, b]`` by one ``einsum('aki,bij,cjk->cab')`` over all ``n³``
  cells, the observed cells selected with ``index_select``, ``mse_loss(reduction='sum')``
  against one-hot targets, plus ``ε`` times the Gram-trace regularizer on the three mode
  unfoldings, differentiated by autograd. ``prodint`` is
  :func:`prodint.hypercube.model.objective_and_grad` (observed pairs only, hand-derived
  gradient; on the CPU the chunked ``"blas"`` backend with ``H`` in the same parallel call)
  (its ``forward`` is
  :func:`~prodint.hypercube.model.predict` on the observed pairs plus the Gram-trace ``H``);
  ``prodint-torch`` is the same step on the ``"torch"`` backend (one call per product over all
  pairs). Target: ≥ 5× at n = 97. The ``prodint*`` records carry the step's FLOPs
  (:func:`step_flops`: ``12 m n³`` for ``m`` observed pairs and ``24 n⁴`` for ``H``) and the
  fraction of the machine's matmul rate they reach: of the documented 187 GFLOP/s
  (2 threads) and of a 2048³ float32 product through torch (impl ``matmul-torch``,
  ``matmul_gflops_torch``) and through numpy's BLAS (``matmul-numpy``,
  ``matmul_gflops_numpy``, the library the ``"blas"`` backend calls), each timed again as
  its "forward and backward", in round-robin with the steps of the same group (the
  machine's speed drifts over a run).
- ``answer … f=0.5``: time to the answer, Z_97 addition and S_5 at fraction 0.5 with 3
  seeds each (the split and the init seeded alike). ``published`` (the baseline) is the
  published training loop (:func:`~prodint.bench.hypercube_published.published_train`: its
  init, SGD, clip at ``0.2 m``, summed loss, held-out accuracy read every step) until 100%
  held-out accuracy; ``prodint`` is :func:`prodint.hypercube.train.train` with the default
  recipe to full convergence, which records the step and time of its first 100% held-out
  accuracy (a :class:`~prodint.hypercube.diagnostics.HeldOutCheck` before every update).
  The seeds run in turn, published then ours, on the first call of either case; ``fwd_ms``
  is the median over seeds of the time to 100% held-out accuracy and ``ratio_fwd`` ours
  against the published (target: at most 1/3); ``extra`` has steps and seconds per seed,
  and for ours the time to full convergence (``converged_seconds``; train loss per pair
  < 1e-7 and ``h_ratio`` within 0.5% of 1, restarts included), ``h_ratio``, unitarity and
  the verdict per seed, with their medians. S_5's full convergence at this fraction takes
  the recipe's drift rule and its restarts (the measurements in
  :class:`~prodint.hypercube.recipe.Recipe`: 348 to 801 steps a seed), about half an hour
  of the suite on 2 cores. ``answer_cases(..., converge=False)`` stops ours at its first
  100% held-out accuracy (``train(..., until_held_out=True)``; the name ends
  ``(to 100% held-out only)``).
- ``verdict``: the verdict over 5 seeds (fraction 1) for S_3, S_4, Z_6, Z_31,
  ``x² + y² mod 31`` and the non-group Latin square of order 5, run once like the ``answer``
  cases; ``extra`` holds the verdicts per seed and whether all are right.

``--quick`` measures the step at n = 31 and 48, the answer on S_4 with 2 seeds and the
verdict on S_3, Z_6 and the order-5 Latin square with 2 seeds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from prodint.bench.dtn_suite import matmul_rate
from prodint.bench.harness import Case, Record, median_ms, timed_case
from prodint.bench.hypercube_published import (
    published_flops,
    published_objective,
    published_train,
)
from prodint.hypercube.analyze import analyze_table
from prodint.hypercube.diagnostics import diagnose
from prodint.hypercube.model import (
    Pairs,
    Workspace,
    h_value,
    init_factors,
    objective_and_grad,
    one_hot_target,
    predict,
)
from prodint.hypercube.recipe import Recipe
from prodint.hypercube.tables import make_table, split_cells
from prodint.hypercube.train import train

EPS = 0.1
FRACTION = 0.5
MATMUL_RATE = 187e9  # FLOP/s of a 2048³ float32 matmul on 2 threads
#: Side of the reference matmuls of each step group (impls ``matmul-torch``, ``-numpy``).
MATMUL_N = 2048

_RUNS: dict[str, dict[str, Any]] = {}


def step_flops(m: int, n: int) -> int:
    """FLOPs of the fast step's matrix products: six ``2 m n³`` contractions over the
    observed pairs, and for ``H`` six Gram sums (``Σ_x X_xᵀX_x``, ``Σ_x X_x X_xᵀ``) and the six
    products of ``∂H`` (``A_a Rᴮ``, ``Lᶜ A_a`` and their cyclic images), ``2 n⁴`` each."""
    return 12 * m * n**3 + 24 * n**4


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
            loss, h, _, grads, _ = objective_and_grad(factors, pairs, EPS, ws, backend=backend)
            return (loss + EPS * h, *grads)
        return step

    yield timed_case(name, "published", params,
                     lambda: published_objective(*leaves, flat, labels, EPS), leaves,
                     baseline="published")
    yield Case(name, "prodint", params, prodint_forward, prodint_step("auto"),
               baseline="published")
    yield Case(name, "prodint-torch", params, prodint_forward, prodint_step("torch"),
               baseline="published")
    x = torch.randn(MATMUL_N, MATMUL_N, generator=torch.Generator().manual_seed(1))
    y = x.numpy()
    matmul = params | {"n": MATMUL_N, "flops": 2 * MATMUL_N**3}
    for lib, product in (("torch", lambda: x @ x), ("numpy", lambda: torch.from_numpy(y @ y))):
        # timed as a forward and again, as its "forward_backward", beside the steps
        yield Case(name, f"matmul-{lib}", matmul, product, product, baseline=f"matmul-{lib}")


def _once(key: str, run: Callable[[], dict[str, dict[str, Any]]],
          impl: str) -> Callable[[], dict[str, Any]]:
    """A forward that runs ``run`` (results per ``impl``) on the first call of any case of
    ``key``, records its wall time, and returns ``impl``'s results."""

    def forward() -> dict[str, Any]:
        if key not in _RUNS:
            start = time.perf_counter()
            out = run()
            for results in out.values():
                results["run_seconds"] = round(time.perf_counter() - start, 3)
            _RUNS[key] = out
        return _RUNS[key][impl]

    return forward


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _answer_runs(task: str, kwargs: dict[str, int], seeds: int, device: str,
                 converge: bool) -> dict[str, dict[str, Any]]:
    """The published recipe and ours on the same split and seed, seed after seed (ours to
    full convergence, or only to its first 100% held-out accuracy)."""
    # One-time costs out of the first seed's clock (the first torch.optim step imports for
    # seconds): both loops once on a tiny table.
    small = make_table("zn", n=4)
    small_mask = split_cells(4, 0.75, 0)
    published_train(small, small_mask, max_steps=2, device=device)
    train(one_hot_target(small), small_mask, recipe=Recipe(max_steps=2, restarts=0),
          device=device)
    table = make_table(task, **kwargs)
    n = int(table.shape[0])
    published: list[dict[str, Any]] = []
    ours: list[dict[str, Any]] = []
    for seed in range(seeds):
        mask = split_cells(n, FRACTION, seed)
        run = published_train(table, mask, seed=seed, device=device)
        published.append({"seed": seed, "reached": run.steps is not None, "steps": run.steps,
                          "seconds": round(run.seconds, 3),
                          "imbalance2": float(f"{run.imbalance:.3g}")})
        result = train(one_hot_target(table), mask, seed=seed, device=device,
                       until_held_out=not converge)
        best, first = result.best, result.held_out_perfect
        ours.append({"seed": seed, "reached": first is not None,
                     "steps": None if first is None else first[0],
                     "seconds": round(result.seconds if first is None else first[1], 3)})
        if not converge:
            continue
        d = diagnose(best.factors, table, mask, converged=best.converged,
                     train_loss=best.train_loss)
        ours[-1] |= {"converged": best.converged, "converged_steps": result.steps,
                     "converged_seconds": round(result.seconds, 3),
                     "attempts": len(result.attempts), "h_ratio": round(d.h_ratio, 6),
                     "unitarity_error": float(f"{d.unitarity_error:.3g}"),
                     "is_group_isotope": d.is_group_isotope}
    out: dict[str, dict[str, Any]] = {}
    for impl, runs in (("published", published), ("prodint", ours)):
        out[impl] = {"seeds": runs, "all_reached": all(r["reached"] for r in runs),
                     "median_seconds": _median([r["seconds"] for r in runs]),
                     "median_steps": (statistics.median(r["steps"] for r in runs)
                                      if all(r["reached"] for r in runs) else None)}
    if converge:
        out["prodint"]["median_converged_seconds"] = _median([r["converged_seconds"]
                                                              for r in ours])
        out["prodint"]["all_group_isotope"] = all(r["is_group_isotope"] for r in ours)
    return out


def answer_cases(task: str, kwargs: dict[str, int], seeds: int, device: str = "cpu", *,
                 converge: bool = True) -> Iterator[Case]:
    """Time to 100% held-out accuracy at fraction 0.5: the published recipe and ours (ours
    trained on to full convergence unless ``converge`` is false)."""
    label = task + "".join(f" {k}={v}" for k, v in kwargs.items())
    name = f"answer {label} f={FRACTION}" + ("" if converge else " (to 100% held-out only)")
    params = {"task": label, "train_fraction": FRACTION, "seeds": seeds, "device": device,
              "converge": converge}

    def run() -> dict[str, dict[str, Any]]:
        return _answer_runs(task, kwargs, seeds, device, converge)

    for impl in ("published", "prodint"):
        yield Case(name, impl, params, _once(name, run, impl), None, baseline="published")


VERDICT_TASKS: tuple[tuple[str, dict[str, int], bool], ...] = (
    ("s3", {}, True), ("s4", {}, True), ("z6", {}, True), ("zp-add", {"p": 31}, True),
    ("zp-sq-sum", {"p": 31}, False), ("latin5", {}, False))


def _verdict_run(tasks: tuple[tuple[str, dict[str, int], bool], ...],
                 seeds: int) -> dict[str, dict[str, Any]]:
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
    return {"prodint": {"seeds": seeds, "tasks": rows,
                        "all_right": all(r["all_right"] for r in rows.values())}}


def verdict_case(tasks: tuple[tuple[str, dict[str, int], bool], ...], seeds: int) -> Case:
    """The verdict over ``seeds`` seeds for each task (fraction 1)."""
    name = f"verdict {seeds} seeds"
    return Case(name, "prodint", {"seeds": seeds, "train_fraction": 1.0},
                _once(name, lambda: _verdict_run(tasks, seeds), "prodint"), None,
                baseline="prodint")


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    steps = (("zn", {"n": 31}), ("zn", {"n": 48})) if quick else (
        ("zp-add", {"p": 97}), ("s5", {}))
    for task, kwargs in steps:
        yield from step_cases(task, kwargs, device)
    runs = [("s4", {}, 2, True)] if quick else [("zp-add", {"p": 97}, 3, True),
                                                ("s5", {}, 3, True)]
    for task, kwargs, seeds, converge in runs:
        yield from answer_cases(task, kwargs, seeds, device, converge=converge)
    if quick:
        yield verdict_case(tuple(t for t in VERDICT_TASKS if t[0] in ("s3", "z6", "latin5")), 2)
    else:
        yield verdict_case(VERDICT_TASKS, 5)


def _matmul_rates(records: list[Record]) -> dict[str, dict[str, float]]:
    """Per step group, the FLOP/s of its ``matmul-torch`` and ``matmul-numpy`` rows (their
    ``fwd_bwd_ms``, timed in round-robin with the steps); for a group without them (records
    of an older run), of the same products timed now."""
    beside: dict[str, dict[str, float]] = {}
    for r in records:
        if r.name.startswith("step") and r.impl.startswith("matmul-") and r.fwd_bwd_ms:
            rate = r.params["flops"] / (r.fwd_bwd_ms / 1e3)
            beside.setdefault(r.name, {})[r.impl.removeprefix("matmul-")] = rate
    now: dict[str, float] = {}
    for r in records:
        if r.name.startswith("step") and set(beside.get(r.name, {})) != {"torch", "numpy"}:
            now = now or _matmul_rates_now()
            beside[r.name] = now
    return beside


def _matmul_rates_now() -> dict[str, float]:
    y = torch.randn(MATMUL_N, MATMUL_N).numpy()
    return {"torch": matmul_rate(MATMUL_N),
            "numpy": 2 * MATMUL_N**3 / (median_ms(lambda: y @ y) / 1e3)}


def annotate(records: list[Record]) -> None:
    """FLOP rates of the step against the matmuls of its group; the runs of the ``answer``
    and ``verdict`` cases (``fwd_ms``: the median time to 100% held-out accuracy, or the
    verdict's wall time), and the ratios of the ``answer`` medians against the published
    recipe's."""
    rates = _matmul_rates(records)
    for r in records:
        if r.name.startswith("step") and r.impl.startswith("matmul-"):
            r.extra["gflops"] = round(rates[r.name][r.impl.removeprefix("matmul-")] / 1e9, 1)
        elif r.name.startswith("step") and r.fwd_bwd_ms:
            measured = rates[r.name]
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
            run = _RUNS[r.name][r.impl]
            r.fwd_ms = round(run.get("median_seconds", run["run_seconds"]) * 1e3, 1)
            r.extra.update(run)
    by = {(r.name, r.impl): r for r in records}
    for r in records:
        base = by.get((r.name, r.baseline))
        if r.name.startswith("answer") and base is not None and base.fwd_ms:
            r.ratio_fwd = round(r.fwd_ms / base.fwd_ms, 4)
