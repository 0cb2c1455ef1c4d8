"""Suite ``train``: training throughput of registry models against plain torch, and DDP
scaling.

- ``step <task> <mixer> …``: one optimiser step (``forward_backward``: forward, cross-entropy
  loss, backward, AdamW step) on a fixed batch, for every mixer of
  :data:`~prodint.train.models.PLAIN_MIXERS`, on the ``image`` task (8x8 digits-shaped input
  ``[B, 1, 8, 8]``, 10 classes) and the ``sequence`` task (``[B, T, 1]``, 10 classes).
  ``prodint`` is :func:`~prodint.train.models.build_model`; ``torch`` (the baseline) is its
  plain twin :func:`~prodint.train.models.plain_torch_model` holding the same weights
  (:meth:`~prodint.train.models.PlainModel.load_state_from`). ``forward`` is the loss alone,
  without gradients. ``annotate`` adds ``samples_per_s = B / t_step`` to every step record
  and, on the ``prodint`` ones, ``throughput_ratio`` (torch samples/s over prodint
  samples/s, which is ``ratio_fwd_bwd``) and ``within_target`` (the ratio ≤ 1.15).
- ``ddp …``: the same kind of small model trained by :func:`prodint.train.trainer.train`
  (``digits``, global batch 64) as one process with 2 threads (``1x2``, the baseline), one
  process with 1 thread (``1x1``) and, under ``python -m torch.distributed.run
  --standalone --nproc-per-node 2``, two gloo processes of 1 thread each (``2x1``). Each arm
  runs ``python -m prodint train`` once in a subprocess, so that its thread count is fixed
  by ``OMP_NUM_THREADS`` before torch starts and every arm is measured the same way; the
  harness's repeated calls return the cached run. ``samples_per_s`` is the trainer's own
  rate at the last step (``metrics.jsonl``: all steps over their wall time, start-up and
  the final evaluation left out). ``annotate`` writes the time per step ``1e3 · batch /
  samples_per_s`` into ``fwd_ms`` (``ratio_fwd`` against ``1x2``), the rate, the process
  wall time, ``speedup`` (its rate over the baseline's) and ``speedup_over_1x1`` into
  ``extra``.

``--quick``: batch 16, width 16, one block, ``T = 16``; the DDP arms train 5 steps.
Full: batch 64, width 64, two blocks, ``T = 64``; the DDP arms train 30 steps.

The step records carry the thread count of the measuring process (``threads``). On cores
that other processes also use, two threads per process make every step many times slower
and the ratios noise (the ``1x2`` arm shows the same): run the suite with
``OMP_NUM_THREADS=1`` there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.bench.harness import Case, Record
from prodint.checks import check_bool, check_choice, check_instance, check_int
from prodint.train.config import TrainConfig
from prodint.train.lm import parameter_groups
from prodint.train.models import PLAIN_MIXERS, build_model, plain_torch_model
from prodint.train.trainer import METRICS

TARGET = 1.15
CLASSES = 10
STEP_TASKS = ("image", "sequence")
#: ``(processes, threads per process)`` of the DDP arms; the first is the baseline.
ARMS = ((1, 2), (1, 1), (2, 1))
BASELINE_ARM = "1x2"

_RUNS: dict[str, dict[str, Any]] = {}


def sizes(quick: bool) -> dict[str, int]:
    """``batch, width, depth, length`` (the sequence task's ``T``) of the step cases."""
    check_bool(quick, "quick")
    return dict(batch=16, width=16, depth=1, length=16) if quick else \
        dict(batch=64, width=64, depth=2, length=64)


def pair(task: str, mixer: str, *, batch: int, width: int, depth: int, length: int,
         dtype: torch.dtype = torch.float32) -> tuple[nn.Module, nn.Module, Tensor, Tensor]:
    """``(prodint model, plain twin with its weights, x, y)`` for one step problem.

    ``x`` is ``[batch, 1, 8, 8]`` (image) or ``[batch, length, 1]`` (sequence), standard
    normal; ``y`` the int64 labels ``[batch]`` in ``[0, 10)``; both seeded by 0.

    Raises:
        TypeError: a size not an int, ``dtype`` not a floating dtype of the models.
        ValueError: ``task`` outside :data:`STEP_TASKS`, ``mixer`` outside
            :data:`~prodint.train.models.PLAIN_MIXERS`, a size below 1.
    """
    check_choice(task, "task", STEP_TASKS)
    check_choice(mixer, "mixer", PLAIN_MIXERS)
    for name, value in (("batch", batch), ("width", width), ("depth", depth),
                        ("length", length)):
        check_int(value, name, minimum=1)
    features = 8 if task == "image" else 1
    options: dict[str, Any] = dict(width=width, depth=depth, classes=CLASSES,
                                   in_features=features, dtype=dtype)
    model = build_model(task, mixer, **options)
    plain = plain_torch_model(task, mixer, **options).load_state_from(model)
    gen = torch.Generator().manual_seed(0)
    shape = (batch, 1, 8, 8) if task == "image" else (batch, length, 1)
    x = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.randint(0, CLASSES, (batch,), generator=gen)
    return model, plain, x, y


def step_functions(model: nn.Module, x: Tensor, y: Tensor
                   ) -> tuple[Callable[[], Tensor], Callable[[], Tensor]]:
    """``(loss, step)``: the cross-entropy of ``model(x)`` against ``y`` without gradients,
    and one AdamW step on it (gradients cleared, loss, backward, update; returns the loss).

    Raises:
        TypeError: ``model`` not a module, ``x`` or ``y`` not tensors.
    """
    check_instance(model, "model", nn.Module)
    check_instance(x, "x", Tensor)
    check_instance(y, "y", Tensor)
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.01), lr=1e-3)

    def loss() -> Tensor:
        with torch.no_grad():
            return F.cross_entropy(model(x), y)

    def step() -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        value = F.cross_entropy(model(x), y)
        value.backward()
        optimizer.step()
        return value.detach()

    return loss, step


def step_cases(quick: bool, device: str) -> Iterator[Case]:
    """The prodint model and its plain twin for every task and mixer."""
    size = sizes(quick)
    for task in STEP_TASKS:
        for mixer in PLAIN_MIXERS:
            model, plain, x, y = pair(task, mixer, **size)
            x, y = x.to(device), y.to(device)
            shape = "8x8" if task == "image" else f"T={size['length']}"
            name = (f"step {task} {mixer} {shape} b={size['batch']} w={size['width']} "
                    f"d={size['depth']}")
            params = {"task": task, "mixer": mixer, **size, "input": list(x.shape),
                      "threads": torch.get_num_threads(), "device": device}
            for impl, net in (("torch", plain), ("prodint", model)):
                loss, step = step_functions(net.to(device), x, y)
                yield Case(name, impl, params, loss, step, baseline="torch")


def ddp_config(steps: int) -> TrainConfig:
    """The DDP arms' run: ``digits``, conv mixer, width 64, two blocks, global batch 64,
    ``steps`` steps, one evaluation (64 examples) and one checkpoint, at the end."""
    check_int(steps, "steps", minimum=1)
    return TrainConfig(task="digits", mixer="conv", width=64, depth=2, steps=steps, batch=64,
                       eval_every=steps, checkpoint_every=steps, log_every=steps,
                       eval_limit=64)


def train_command(config: TrainConfig, out: Path, processes: int) -> list[str]:
    """The command line of ``prodint train`` running ``config`` into ``out``: the plain
    module for one process, under ``torch.distributed.run --standalone`` (a free port) for
    several.

    Raises:
        TypeError: ``config`` not a :class:`TrainConfig`, ``out`` not a path.
        ValueError: ``processes`` below 1.
    """
    check_instance(config, "config", TrainConfig)
    check_instance(out, "out", Path)
    check_int(processes, "processes", minimum=1)
    launch = [sys.executable]
    if processes > 1:
        launch += ["-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={processes}"]
    keys = []
    for key, value in config.as_dict().items():
        if value is not None:
            text = value if isinstance(value, str) else json.dumps(value)
            keys += [f"--{key.replace('_', '-')}", text]
    return [*launch, "-m", "prodint", "train", *keys, "--out", str(out)]


def ddp_run(config: TrainConfig, processes: int, threads: int) -> dict[str, Any]:
    """Train ``config`` in a subprocess with ``processes`` processes of ``threads`` threads;
    the trainer's last ``samples_per_s``, the wall time and the arm.

    Raises:
        TypeError, ValueError: as :func:`train_command`; ``threads`` below 1.
        RuntimeError: the run failed (its last output quoted).
    """
    check_int(threads, "threads", minimum=1)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PRODINT_BACKEND="gloo")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        start = time.perf_counter()
        done = subprocess.run(train_command(config, out, processes), env=env,
                              capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"ddp run: expected exit status 0, received "
                               f"{done.returncode}: {(done.stdout + done.stderr)[-800:]}")
        last = json.loads((out / METRICS).read_text(encoding="utf-8").splitlines()[-1])
    return {"processes": processes, "threads_per_process": threads,
            "samples_per_s": round(last["samples_per_s"], 2), "wall_s": round(wall, 3),
            "steps": config.steps, "global_batch": config.batch}


def ddp_cases(steps: int) -> Iterator[Case]:
    """One case per arm of :data:`ARMS`, each running once (the module doc)."""
    config = ddp_config(steps)
    name = f"ddp digits conv w={config.width} d={config.depth} b={config.batch} steps={steps}"
    for processes, threads in ARMS:
        impl = f"{processes}x{threads}"
        key = f"{name} {impl}"

        def forward(key: str = key, processes: int = processes,
                    threads: int = threads) -> dict[str, Any]:
            if key not in _RUNS:
                _RUNS[key] = ddp_run(config, processes, threads)
            return _RUNS[key]

        params = {"task": config.task, "mixer": config.mixer, "width": config.width,
                  "depth": config.depth, "batch": config.batch, "steps": steps,
                  "processes": processes, "threads_per_process": threads, "device": "cpu"}
        yield Case(name, impl, params, forward, None, baseline=BASELINE_ARM)


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    """The step cases on ``device``, then the DDP arms (on the CPU)."""
    check_bool(quick, "quick")
    check_instance(device, "device", str)
    yield from step_cases(quick, device)
    yield from ddp_cases(5 if quick else 30)


def annotate(records: list[Record]) -> None:
    """Samples per second and throughput ratios of the step records; the DDP arms' rates,
    times per step and speed-ups (the module doc)."""
    steps = {(r.name, r.impl): r for r in records if r.name.startswith("step ")}
    for r in steps.values():
        if r.fwd_bwd_ms:
            r.extra["samples_per_s"] = round(r.params["batch"] / (r.fwd_bwd_ms / 1e3), 2)
    for (name, impl), r in steps.items():
        base = steps.get((name, r.baseline))
        if impl == r.baseline or base is None or "samples_per_s" not in r.extra \
                or "samples_per_s" not in base.extra:
            continue
        ratio = base.extra["samples_per_s"] / r.extra["samples_per_s"]
        r.extra["throughput_ratio"] = round(ratio, 4)
        r.extra["within_target"] = ratio <= TARGET
    arms = [r for r in records if r.name.startswith("ddp ")]
    for r in arms:
        key = f"{r.name} {r.impl}"
        if key in _RUNS:
            r.extra.update(_RUNS[key])
        if "samples_per_s" in r.extra:
            r.fwd_ms = round(1e3 * r.params["batch"] / r.extra["samples_per_s"], 4)
            r.peak_mem_mb = None
    rates = {(r.name, r.impl): r.extra.get("samples_per_s") for r in arms}
    for r in arms:
        base, own = rates.get((r.name, r.baseline)), rates.get((r.name, r.impl))
        if base and own:
            r.ratio_fwd = round(base / own, 4)
            r.extra["speedup"] = round(own / base, 4)
        single = rates.get((r.name, "1x1"))
        if single and own:
            r.extra["speedup_over_1x1"] = round(own / single, 4)
