"""The training loop: AdamW on a task, metrics, checkpoints, exact resume, data parallelism.

:func:`train` trains the model a :class:`~prodint.train.config.TrainConfig` names on its task
(:mod:`prodint.train.tasks`) and writes into ``out``:

- ``metrics.jsonl``: one JSON object per logged step (``loss``, ``lr``, ``samples_per_s``)
  and per evaluation (``eval_<metric>``), rewritten atomically at each log;
- ``checkpoint.safetensors`` (:mod:`prodint.train.checkpoint`) every ``checkpoint_every``
  steps and at the end, atomically: a run killed at any moment leaves the last one whole;
- ``config.json``: the configuration.

Everything that decides a step is a function of the seed and the step: the model is built
from the seed, batch ``k`` is the slice ``[k·B mod N, …)`` of the permutation of epoch
``⌊k·B / N⌋`` drawn from ``seed + epoch`` (wrapping into the next epoch), the learning rate
is computed from the step. A resumed run (``resume=True``) restores the model, the optimiser,
the step and the global random state and so continues bit for bit: its final weights equal
an uninterrupted run's on the CPU. A NaN or infinite loss stops the run
(:class:`NonFiniteLossError`, naming the step) before the optimiser step, so the last checkpoint
stays the last good state.

Data parallel: under ``torchrun`` (``WORLD_SIZE > 1``) every process takes every
``world``-th example of the global batch, the model is wrapped in
``DistributedDataParallel`` (gloo on the CPU, nccl on CUDA) and process 0 writes the files;
with the global batch divisible by the number of processes the gradients are those of a
single process on the whole batch, up to the order of the reductions.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from prodint.checks import (
    check_bool,
    check_callable,
    check_instance,
    check_int,
    check_memory,
    check_seed,
)
from prodint.storage import check_output_folder, write_atomic
from prodint.train.checkpoint import checkpoint_header, load_checkpoint, save_checkpoint
from prodint.train.config import TrainConfig
from prodint.train.lm import parameter_groups
from prodint.train.tasks import TASKS, Task, TaskData

__all__ = ["NonFiniteLossError", "Progress", "TrainResult", "batch_indices", "build", "train"]

CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.jsonl"
#: The keys a resumed run may change (cadences and length); any other must be the same.
RESUMABLE = ("steps", "epochs", "eval_every", "checkpoint_every", "log_every", "eval_limit")


class NonFiniteLossError(ValueError):
    """The loss became NaN or infinite; the run stopped before that step's update."""


@dataclass(frozen=True)
class Progress:
    """What a progress display shows after a step."""

    step: int
    steps: int
    loss: float
    samples_per_s: float
    eta_s: float
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    """The outcome of :func:`train`: the trained model, every metric record, the final
    evaluation and where the files are."""

    model: nn.Module
    records: list[dict[str, Any]]
    final: dict[str, float]
    out: Path
    checkpoint: Path


def batch_indices(step: int, batch: int, count: int, seed: int) -> Tensor:
    """The example indices of global batch ``step`` (see the module docstring).

    Raises:
        TypeError, ValueError: a step, batch, count or seed that is not an int in range.
    """
    step = check_int(step, "step", minimum=0, maximum=2**40)
    batch = check_int(batch, "batch", minimum=1, maximum=2**40)
    count = check_int(count, "count", minimum=1, maximum=2**40)
    seed = check_seed(seed)
    check_memory(batch * 8 + count * 8, "batch, count", "the batch indices")
    start = step * batch
    parts, taken = [], 0
    while taken < batch:
        epoch, offset = divmod(start + taken, count)
        order = torch.randperm(count, generator=torch.Generator().manual_seed(seed + epoch))
        part = order[offset:offset + batch - taken]
        parts.append(part)
        taken += part.numel()
    return torch.cat(parts)


def _lr(config: TrainConfig, step: int) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    if config.schedule == "constant":
        return config.lr
    span = max(1, config.steps - config.warmup)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - config.warmup) / span)))


def build(config: TrainConfig, model: nn.Module | None = None
          ) -> tuple[Task, TaskData, nn.Module]:
    """The task, its data and the model of ``config`` (sparse forms swapped in if asked), or
    ``model`` when one is given (an experiment's own architecture).

    Raises:
        ValueError: an unknown task or mixer, data that cannot be loaded.
    """
    from prodint.train.models import build_model

    if config.task not in TASKS:
        raise ValueError(f"task: expected one of {sorted(TASKS)}, received {config.task!r}")
    task = TASKS[config.task]
    data = task.load(config.seed, config.data_root)
    dtype = getattr(torch, config.dtype)
    if model is None:
        model = build_model(task.kind, config.mixer, width=config.width, depth=config.depth,
                            classes=data.classes, in_features=data.in_features,
                            vocab=data.vocab, horizon=data.horizon, seed=config.seed,
                            dtype=dtype, causal=config.causal)
    else:
        model = check_instance(model, "model", nn.Module).to(dtype)
    if config.sparse:
        from prodint.sparse import sparsify

        model = sparsify(model)
    return task, data, model.to(config.device)


def _world() -> tuple[int, int]:
    """``(rank, world size)``, joining the process group torchrun set up."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get(
            "PRODINT_BACKEND", "") != "gloo" else "gloo"
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


@torch.no_grad()
def evaluate(model: nn.Module, task: Task, x: Tensor, y: Tensor, *, limit: int,
             batch: int = 256) -> float:
    """The task's metric over the first ``limit`` test examples."""
    model.eval()
    count = min(limit, x.shape[0])
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    total = 0.0
    for start in range(0, count, batch):
        xs, ys = x[start:min(count, start + batch)], y[start:min(count, start + batch)]
        xs = xs.to(device=device, dtype=dtype) if xs.is_floating_point() else xs.to(device)
        ys = ys.to(device=device, dtype=dtype) if ys.is_floating_point() else ys.to(device)
        total += float(task.metric(model(xs), ys))
    model.train()
    return total / count


def _write_metrics(out: Path, records: list[dict[str, Any]]) -> None:
    write_atomic(out / METRICS, "".join(json.dumps(r) + "\n" for r in records))


def _restore(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
             config: TrainConfig) -> tuple[int, list[dict[str, Any]]]:
    saved = checkpoint_header(path).get("config", {})
    for key, value in config.as_dict().items():
        if key not in RESUMABLE and saved.get(key) != value:
            raise ValueError(f"{key}: expected {saved.get(key)!r} (the value the checkpoint "
                             f"{str(path)!r} was trained with), received {value!r}")
    header, rng = load_checkpoint(path, model, optimizer)
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    return int(header["step"]), list(header.get("records", []))


def train(config: TrainConfig, out: Path, *, resume: bool = False,
          progress: Callable[[Progress], None] | None = None,
          model: nn.Module | None = None) -> TrainResult:
    """Train as ``config`` says and write the run into ``out`` (module docstring); ``model``,
    when given, is trained instead of the one ``config`` names (its ``mixer`` is then a
    label; a resumed run must be given the same architecture).

    Raises:
        TypeError: a config of another kind, a progress that is not callable.
        ValueError: an unknown task or mixer, ``out`` not writable, a checkpoint of another
            run (the differing key named), a global batch not divisible by the processes.
        NonFiniteLossError: the loss became NaN or infinite (the step named).
    """
    check_instance(config, "config", TrainConfig)
    check_bool(resume, "resume")
    progress = check_callable(progress, "progress", optional=True)
    out = check_output_folder(out, "out", files=[CHECKPOINT, METRICS, "config.json"])
    rank, world = _world()
    if config.batch % world:
        raise ValueError(f"batch: expected a global batch divisible by the {world} processes, "
                         f"received {config.batch}")
    torch.manual_seed(config.seed)
    task, data, model = build(config, model)
    if config.epochs is not None:   # the length in steps, now that the data's size is known
        config = dataclasses.replace(
            config, steps=math.ceil(config.epochs * data.train_x.shape[0] / config.batch))
    optimizer = torch.optim.AdamW(parameter_groups(model, config.weight_decay), lr=config.lr)
    start, records = 0, []
    checkpoint = out / CHECKPOINT
    if resume and checkpoint.exists():
        start, records = _restore(checkpoint, model, optimizer, config)
        records = [r for r in records if r["step"] < start]
        if rank == 0:   # the temporary files of a writer killed mid-write (never read)
            for name in (CHECKPOINT, METRICS, "config.json"):
                for stale in out.glob(f".{name}.*.tmp"):
                    stale.unlink(missing_ok=True)
    penalised = [m for m in model.modules() if callable(getattr(m, "symmetry_penalty", None))] \
        if config.symmetry_penalty else []
    runner = model
    if world > 1:
        runner = nn.parallel.DistributedDataParallel(model)
    if rank == 0:
        write_atomic(out / "config.json", json.dumps(config.as_dict(), indent=2) + "\n")
    dtype = getattr(torch, config.dtype)
    device = torch.device(config.device)
    count = data.train_x.shape[0]
    began = time.perf_counter()
    for done, step in enumerate(range(start, config.steps), 1):
        index = batch_indices(step, config.batch, count, config.seed)[rank::world]
        x, y = data.train_x[index], data.train_y[index]
        x = x.to(device=device, dtype=dtype) if x.is_floating_point() else x.to(device)
        y = y.to(device=device, dtype=dtype) if y.is_floating_point() else y.to(device)
        for group in optimizer.param_groups:
            group["lr"] = _lr(config, step)
        loss = task.loss(runner(x), y)
        if penalised:
            loss = loss + config.symmetry_penalty * sum(m.symmetry_penalty() for m in penalised)
        value = float(loss.detach())
        if world > 1:
            total = loss.detach().clone()
            dist.all_reduce(total)
            value = float(total) / world
        if not math.isfinite(value):
            raise NonFiniteLossError(f"loss: expected a finite loss, received {value} at step "
                                f"{step}; the last good checkpoint is "
                                f"{str(checkpoint) if checkpoint.exists() else 'none'}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        rate = done * config.batch / max(time.perf_counter() - began, 1e-9)
        last = step + 1 == config.steps
        metrics: dict[str, float] = {}
        if (step + 1) % config.eval_every == 0 or last:
            metrics[f"eval_{task.metric_name}"] = evaluate(model, task, data.test_x,
                                                           data.test_y, limit=config.eval_limit)
        if (step + 1) % config.log_every == 0 or metrics or last:
            records.append({"step": step, "loss": value, "lr": _lr(config, step),
                            "samples_per_s": rate, **metrics})
            if rank == 0:
                _write_metrics(out, records)
        if rank == 0 and ((step + 1) % config.checkpoint_every == 0 or last):
            save_checkpoint(checkpoint, model, optimizer,
                            {"step": step + 1, "config": config.as_dict(), "records": records},
                            {"torch": torch.get_rng_state()})
        if progress is not None:
            eta = (config.steps - step - 1) * config.batch / rate
            progress(Progress(step + 1, config.steps, value, rate, eta, metrics))
    final = {k: v for r in records for k, v in r.items() if k.startswith("eval_")}
    return TrainResult(model, records, final, out, checkpoint)
