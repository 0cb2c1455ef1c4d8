"""``prodint train``: train a model built from interactions on a task, with a progress bar.

``prodint train [--config FILE.toml] [--KEY VALUE ...] [--resume] --out DIR`` reads the
configuration (:class:`prodint.train.config.TrainConfig`: a flat TOML table; every key can
also be given or overridden as an option, ``--steps 100``, ``--mixer glu``, values read as
TOML), checks it before anything runs, trains (:func:`prodint.train.trainer.train`) and
writes ``metrics.jsonl``, ``checkpoint.safetensors`` and ``config.json`` into ``DIR``.
``--resume`` continues the run in ``DIR`` exactly where its checkpoint stopped.

Several processes: ``torchrun --nproc-per-node N -m prodint train ...`` (gloo on the CPU,
nccl on CUDA; several machines through torchrun's rendezvous, ``--nnodes`` and
``--rdzv-endpoint``): each process takes its share of every global batch, process 0 writes.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from prodint.cli.arguments import add_out, check_out, readable_file
from prodint.train.config import KEYS, apply_overrides, config_from_mapping, load_config
from prodint.train.models import MIXERS
from prodint.train.tasks import TASKS
from prodint.train.trainer import CHECKPOINT, METRICS, train
from prodint.train.trainer import Progress as Step

__all__ = ["FILES", "add_parser", "check", "run"]

#: The files written under ``--out``.
FILES = (METRICS, CHECKPOINT, "config.json")

DESCRIPTION = """\
Train a model whose blocks are product interactions (the mixer) on a task: images (digits,
mnist5k, fashion), sequences (seq-digits, pseq-digits, the copy task) or a forecast
(electricity). Options override the keys of the TOML configuration."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prodint train``."""
    parser = subparsers.add_parser("train", help="train a model built from interactions on a "
                                                 "task (progress, checkpoints, resume, DDP)",
                                   description=DESCRIPTION)
    parser.add_argument("--config", type=readable_file, default=None,
                        help="a TOML file of configuration keys")
    for key in KEYS:
        parser.add_argument(f"--{key.replace('_', '-')}", dest=f"key_{key}", default=None,
                            metavar="VALUE", help=f"the configuration key {key}")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its checkpoint")
    add_out(parser, "metrics.jsonl, checkpoint.safetensors and config.json",
            default=Path("runs") / "train")
    return parser


def check(args: argparse.Namespace) -> None:
    """Build and check the configuration (keys, kinds, values, the task and the mixer) and
    the output folder before anything runs."""
    check_out(args, FILES)
    table = load_config(args.config) if args.config is not None else {}
    given = [key for key in KEYS if getattr(args, f"key_{key}") is not None]
    try:
        config = config_from_mapping(apply_overrides(
            table, [f"{key}={getattr(args, f'key_{key}')}" for key in given]))
        if config.task not in TASKS:
            raise ValueError(f"task: expected one of {sorted(TASKS)}, received "
                             f"{config.task!r}")
        if config.mixer not in MIXERS:
            raise ValueError(f"mixer: expected one of {sorted(MIXERS)}, received "
                             f"{config.mixer!r}")
    except (TypeError, ValueError) as error:
        # a key given as an option is named as the option; one from the file, as its key
        key, _, rest = str(error).partition(":")
        if key in given:
            raise type(error)(f"--{key.replace('_', '-')}:{rest}") from None
        raise
    if args.resume and not (args.out / CHECKPOINT).is_file():
        raise ValueError(f"resume: expected a checkpoint in --out, received {str(args.out)!r} "
                         f"without {CHECKPOINT}")
    args.train_config = config


#: Arguments of the data loaders as the options that set them.
_OPTIONS = {"root": "--data-root", "name": "--task"}


def run(args: argparse.Namespace, console: Console) -> int:
    """Train with a progress bar (process 0 only; it appears with the first step, once the
    data and the model are ready), then print where the run is."""
    config = args.train_config
    show = int(os.environ.get("RANK", "0")) == 0
    columns = (TextColumn("step {task.completed}/{task.total}"), BarColumn(),
               TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]}/s"),
               TextColumn("{task.fields[metric]}"), TimeRemainingColumn())
    bar = Progress(*columns, console=console, disable=not show)
    task = bar.add_task("train", total=config.steps, loss="-", rate="-", metric="")
    shown: dict[str, str] = {"metric": ""}

    def update(step: Step) -> None:
        if not bar.live.is_started:
            bar.start()
        if step.metrics:
            shown["metric"] = " ".join(f"{k} {v:.4g}" for k, v in step.metrics.items())
        bar.update(task, completed=step.step, loss=f"{step.loss:.4f}",
                   rate=f"{step.samples_per_s:.0f}", metric=shown["metric"])

    try:
        result = train(config, args.out, resume=args.resume, progress=update)
    except (TypeError, ValueError) as error:
        key, _, rest = str(error).partition(":")
        if key in _OPTIONS:     # a data set refused by its loader: name the option
            raise type(error)(f"{_OPTIONS[key]}:{rest}") from None
        raise
    finally:
        if bar.live.is_started:
            bar.stop()
    if show:
        final = ", ".join(f"{k} {v:.4f}" for k, v in result.final.items())
        console.print(f"trained {config.mixer} on {config.task}: {final}; metrics, checkpoint "
                      f"and config in {args.out}")
    return 0
