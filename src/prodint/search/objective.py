"""One trial of a search: a candidate becomes the mixer of a small model, trained briefly.

The model is :func:`prodint.train.models.build_model` for the task's kind with the
candidate's layer (``Candidate.mixer``, ``[B, T, width] -> [B, T, width]``) in each of its
``depth`` blocks, trained by :func:`prodint.train.trainer.train` for ``steps`` AdamW steps
(cosine schedule) and scored by the task's validation metric (accuracy for ``seq-digits`` and
``copy``, higher is better; bits per character for ``shakespeare``, lower is better).
The metric is evaluated :data:`EVALUATIONS` times during training; each value is reported to
the trial (``trial.report(value, step)``) and the study's pruner may stop a candidate that
trails the others at the same step (``optuna.TrialPruned``, recorded as pruned).

Every trial records as user attributes its candidate (``key``, ``formula``, ``order``,
``parameters``, ``classical``), the model's parameter count (``model_parameters``), the wall
time of its training (``seconds``), the last metric (``metric``) and the steps done
(``steps_done``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import torch
from torch import nn

from prodint.checks import check_choice
from prodint.search.study import SEARCH_TASKS, SearchSettings
from prodint.train.config import TrainConfig
from prodint.train.models import build_model
from prodint.train.tasks import TASKS
from prodint.train.trainer import Progress, train

__all__ = ["EVALUATIONS", "candidate_attrs", "run_candidate", "task_length"]

#: How many times the validation metric is computed during a trial.
EVALUATIONS = 4
#: At most this many validation examples are evaluated.
EVAL_LIMIT = 512
#: Tasks whose model predicts the next token: every candidate must be causal.
CAUSAL_TASKS = frozenset({"shakespeare"})


def task_length(task: str) -> int:
    """The sequence length ``T`` of ``task``'s inputs (the candidates are built for it).

    Raises:
        ValueError: ``task`` is not one of :data:`SEARCH_TASKS`.
    """
    check_choice(task, "task", SEARCH_TASKS)
    return int(TASKS[task].load(0, None).train_x.shape[1])


def candidate_attrs(candidate: Any) -> dict[str, Any]:
    """The candidate's description as trial user attributes (plain data)."""
    return {"key": candidate.key, "formula": candidate.formula, "order": int(candidate.order),
            "parameters": int(candidate.parameters), "classical": candidate.classical}


def _builder(candidate: Any) -> Callable[..., nn.Module]:
    def build(width: int, *, causal: bool, generator: torch.Generator | None,
              dtype: torch.dtype) -> nn.Module:
        del width, causal   # the candidate was enumerated at the model's width and causality
        return candidate.mixer(generator=generator, dtype=dtype)

    build.__name__ = build.__qualname__ = f"candidate {candidate.key}"
    return build


def run_candidate(trial: optuna.Trial, candidate: Any, settings: SearchSettings,
                  out: Path) -> float:
    """Train ``candidate`` as the trial ``trial`` under ``settings``, writing the run into
    ``out``; return the final validation metric.

    Raises:
        optuna.TrialPruned: the pruner stopped the trial at an evaluation.
        prodint.train.trainer.NonFiniteLossError: the loss diverged.
    """
    task = TASKS[settings.task]
    causal = settings.task in CAUSAL_TASKS
    for name, value in candidate_attrs(candidate).items():
        trial.set_user_attr(name, value)
    every = max(1, settings.steps // EVALUATIONS)
    config = TrainConfig(task=settings.task, mixer="search", width=settings.width,
                         depth=settings.depth, causal=causal, steps=settings.steps,
                         batch=settings.batch, warmup=max(1, settings.steps // 10),
                         eval_every=every, checkpoint_every=settings.steps,
                         log_every=every, eval_limit=EVAL_LIMIT, seed=settings.seed)
    data = task.load(settings.seed, None)
    model = build_model(task.kind, _builder(candidate), width=settings.width,
                        depth=settings.depth, classes=data.classes,
                        in_features=data.in_features, vocab=data.vocab, seed=settings.seed,
                        causal=causal)
    trial.set_user_attr("model_parameters", sum(p.numel() for p in model.parameters()))
    began = time.perf_counter()
    last: dict[str, float] = {}

    def report(step: Progress) -> None:
        if not step.metrics:
            return
        value = float(step.metrics[f"eval_{task.metric_name}"])
        last.update(metric=value, steps_done=step.step)
        trial.report(value, step.step)
        if trial.should_prune():
            _record(trial, last, began)
            raise optuna.TrialPruned(f"{task.metric_name} {value:.4g} at step {step.step}")

    train(config, out, progress=report, model=model)
    _record(trial, last, began)
    return last["metric"]


def _record(trial: optuna.Trial, last: dict[str, float], began: float) -> None:
    trial.set_user_attr("seconds", time.perf_counter() - began)
    trial.set_user_attr("metric", last.get("metric"))
    trial.set_user_attr("steps_done", int(last.get("steps_done", 0)))
