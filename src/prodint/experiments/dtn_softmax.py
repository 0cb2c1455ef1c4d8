"""Experiment ``dtn-softmax``: a Deep Tensor Network against a softmax Transformer of the same
size on character-level Shakespeare, at equal steps and at equal wall-clock time.

The training and the measurements are those of ``prodint shakespeare``
(:func:`prodint.experiments.shakespeare.run_experiment`) at the budget's size
(:func:`config_for`). The source's claim: second-order tensor attention matches softmax
attention's expressiveness while streaming with an ``O(d²)`` state (linear time), where the
Transformer's key/value cache grows with the context.

Equal wall clock. Each training step costs the same time (same batch, same window), so the
``k``-th evaluation of a model with ``S`` steps in ``t`` seconds of optimizer steps (evaluation
excluded) sits at ``t_k = step_k · t / S`` seconds. ``t* = min(t_dtn, t_softmax)`` is when the
faster model reached its final step, and each model's bits per character at ``t*`` is the
linear interpolation of its validation curve ``(t_k, bpc_k)`` at ``t*``
(:func:`bpc_at_seconds`; ``None`` when ``t*`` precedes the model's first evaluation).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from prodint.checks import check_float, check_instance
from prodint.experiments.figures import new_figure, write_png
from prodint.experiments.protocol import Budget, Experiment, command
from prodint.experiments.shakespeare import ExperimentConfig, run_experiment
from prodint.report import Section
from prodint.train.lm import LMConfig

__all__ = ["EXPERIMENT", "EXPERIMENT_NAME", "bpc_at_seconds", "config_for", "eval_seconds",
           "run"]

EXPERIMENT_NAME = "dtn-softmax"
CLAIM_DTN = ("tensor attention as expressive as softmax attention, O(d²) streaming state "
             "(linear time)")
CLAIM_SOFTMAX = "— (baseline: key/value cache grows with the context)"
MODELS = ("dtn", "softmax")


def config_for(budget: Budget) -> ExperimentConfig:
    """The sizes and recipe of each budget: tiny (seconds, a check that everything is
    produced), quick (about a minute on two cores: width 64, 300 steps of 8 × 128 characters)
    and full (width 128, 1000 steps of 4 × 1024 characters, the defaults of ``prodint
    shakespeare``).

    Raises:
        TypeError: ``budget`` is not a :class:`~prodint.experiments.reproduce.Budget`.
    """
    check_instance(budget, "budget", Budget)
    seed = budget.seed
    if budget.size == "tiny":
        return ExperimentConfig(
            width=16, depth=1, heads=2,
            train=LMConfig(steps=6, batch=2, length=32, eval_every=2, eval_windows=2,
                           warmup=2, seed=seed),
            generation_contexts=(16, 64), sample_tokens=20, final_windows=2,
            timing_seconds=0.01)
    if budget.size == "quick":
        return ExperimentConfig(
            width=64, depth=2, heads=4,
            train=LMConfig(steps=300, batch=8, length=128, eval_every=25, eval_windows=8,
                           warmup=20, seed=seed),
            generation_contexts=(256, 4096), sample_tokens=100, final_windows=8,
            timing_seconds=0.1)
    return ExperimentConfig(train=LMConfig(steps=1000, batch=4, length=1024, eval_every=100,
                                           eval_windows=32, seed=seed))


def _history(history: object) -> tuple[list[int], list[float], int, float]:
    """``(eval_steps, validation_bpc, steps, train_seconds)`` of a history dict."""
    if not isinstance(history, dict):
        raise TypeError(f"history: expected a dict (LMHistory.as_dict()), received "
                        f"{type(history).__name__} {history!r:.60}")
    try:
        steps, bpc = list(history["eval_steps"]), list(history["validation_bpc"])
        total, seconds = len(history["steps"]), float(history["train_seconds"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"history: expected eval_steps, validation_bpc, steps and "
                         f"train_seconds, received keys {sorted(history)} ({error})") from None
    if not steps or len(steps) != len(bpc) or total < max(steps):
        raise ValueError(f"history: expected as many validation_bpc as eval_steps (at least "
                         f"one, none beyond the {total} steps), received {len(bpc)} and "
                         f"{steps!r:.60}")
    return steps, bpc, total, seconds


def eval_seconds(history: dict[str, Any]) -> list[float]:
    """The training seconds at each evaluation, ``step_k · train_seconds / steps`` (every
    step costs the same time; module doc).

    Raises:
        TypeError, ValueError: ``history`` is not an ``LMHistory.as_dict()`` record with at
            least one evaluation.
    """
    steps, _, total, seconds = _history(history)
    return [s * seconds / total for s in steps]


def bpc_at_seconds(history: dict[str, Any], seconds: float) -> float | None:
    """Validation bits per character at ``seconds`` of training: the linear interpolation of
    ``(eval_seconds(history), validation_bpc)``; the last value beyond the last evaluation,
    ``None`` before the first.

    Raises:
        TypeError, ValueError: as :func:`eval_seconds`; ``seconds`` not a finite real ``>= 0``.
    """
    seconds = check_float(seconds, "seconds", minimum=0.0)
    times, bpc = eval_seconds(history), _history(history)[1]
    if seconds < times[0]:
        return None
    for k in range(len(times) - 1):
        (t0, t1), (b0, b1) = times[k:k + 2], bpc[k:k + 2]
        if t0 <= seconds <= t1:
            return b0 if t1 == t0 else b0 + (b1 - b0) * (seconds - t0) / (t1 - t0)
    return bpc[-1]


def _plot(results: dict[str, Any], out: Path) -> list[str]:
    names = [f"{EXPERIMENT_NAME}-bpc-steps.png", f"{EXPERIMENT_NAME}-bpc-seconds.png"]
    for name, xlabel in zip(names, ("step", "training seconds"), strict=True):
        figure = new_figure(6.0, 4.0)
        ax = figure.add_subplot()
        for model in MODELS:
            history = results["models"][model]["history"]
            x = history["eval_steps"] if xlabel == "step" else eval_seconds(history)
            ax.plot(x, history["validation_bpc"], marker="o", label=model)
        ax.set(xlabel=xlabel, ylabel="validation bits per character",
               title=f"DTN against softmax: bits/char against {xlabel}")
        ax.grid(alpha=0.3)
        ax.legend()
        write_png(figure, out / name)
    return names


def run(budget: Budget, out: Path) -> list[Section]:
    """Train both models at the budget's size (:func:`config_for`), write the two plots into
    ``out`` (the runs' own files under ``out/runs/dtn-softmax``) and return the section.

    The small budgets (tiny and quick) train and time on one CPU thread (restored afterwards):
    their matrices are too small to share, and on a busy machine thread synchronization made
    training steps tens of times slower, and unequally so for the two models.

    Raises:
        TypeError: ``budget`` is not a Budget, ``out`` not a path.
        OSError: the Shakespeare corpus is not installed, a file cannot be written.
    """
    check_instance(budget, "budget", Budget)
    check_instance(out, "out", Path)
    config = config_for(budget)
    threads = torch.get_num_threads()
    if budget.quick:
        torch.set_num_threads(1)
    try:
        results = run_experiment(config, out / "runs" / EXPERIMENT_NAME)
    finally:
        torch.set_num_threads(threads)
    models = results["models"]
    seconds = {m: models[m]["history"]["train_seconds"] for m in MODELS}
    faster = min(MODELS, key=lambda m: seconds[m])
    longest = str(max(config.generation_contexts))
    rows = []
    for model in MODELS:
        history = models[model]["history"]
        at_time = bpc_at_seconds(history, seconds[faster])
        rows.append([model, results["parameters"], round(history["validation_bpc"][-1], 4),
                     "—" if at_time is None else round(at_time, 4),
                     round(models[model]["train_tokens_per_second"]),
                     round(models[model]["generation_tokens_per_second"][longest], 1),
                     CLAIM_DTN if model == "dtn" else CLAIM_SOFTMAX])
    finite = all(math.isfinite(b) for m in MODELS for b in models[m]["history"]["validation_bpc"])
    notes = [f"The faster model ({faster}) reached its final step after "
             f"{seconds[faster]:.2f} s of optimizer steps; the other bits/char are "
             f"interpolated on its validation curve at that time."]
    dtn, softmax = (rows[0][2], rows[1][2])
    if dtn > softmax:
        notes.append(f"At equal steps the DTN is behind the Transformer ({dtn} against "
                     f"{softmax} bits/char): at this budget it does not match it.")
    gen = {m: models[m]["generation_tokens_per_second"][longest] for m in MODELS}
    if gen["dtn"] < gen["softmax"]:
        notes.append(f"At a context of {longest} the DTN generates more slowly than the "
                     f"Transformer ({gen['dtn']:.0f} against {gen['softmax']:.0f} tokens/s): "
                     f"its constant state has not yet paid off at this length.")
    return [Section(
        "DTN against a softmax Transformer on Shakespeare",
        f"Two character-level language models of {results['parameters']} parameters each "
        f"(width {config.width}, depth {config.depth}, {config.heads} heads), differing only "
        f"in the token mixer, trained {config.train.steps} steps of {config.train.batch} × "
        f"{config.train.length} characters from the same seed: validation bits per character "
        f"at the final step and at equal wall-clock time, training and generation speed "
        f"(one streaming step after a prompt of {longest} characters).",
        ["model", "parameters", "bits/char (final step)", "bits/char (equal wall clock)",
         "training tokens/s", f"generation tokens/s @ {longest}", "source"],
        rows, passed=finite, notes=notes, plots=_plot(results, out),
        command=command(EXPERIMENT_NAME, budget))]


EXPERIMENT = Experiment(EXPERIMENT_NAME,
                        "The Deep Tensor Network against a softmax Transformer of its size",
                        run, quick_minutes=0.4, full_minutes=30.0)
