"""``prodint shakespeare``: a DTN against a softmax Transformer on character-level Shakespeare.

Runs :func:`prodint.experiments.shakespeare.run_experiment` with a progress bar, prints the
comparison and writes ``results.json``, ``curves.png`` and ``report.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from prodint.cli.arguments import add_out, check_out, positive_int, seed
from prodint.data.shakespeare import CharCorpus
from prodint.experiments.shakespeare import ExperimentConfig, build_models, run_experiment

__all__ = ["FILES", "add_parser", "check", "config_of", "run"]

#: The files written under ``--out``.
FILES = ("results.json", "curves.png", "report.md")

DESCRIPTION = """\
Train a Deep Tensor Network (second-order tensor attention, order 5) and a softmax
Transformer (order 3) of the same width, depth and parameter count on the complete works of
Shakespeare, character by character, from the same seed on the same windows. Compare
validation bits per character, training tokens per second and generation tokens per second
after prompts of growing length (the DTN streams with a constant-size state, the Transformer
with a key/value cache that grows with the context)."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prodint shakespeare``."""
    defaults = ExperimentConfig()
    parser = subparsers.add_parser(
        "shakespeare", help="train a DTN and a softmax Transformer of the same size on "
                            "character-level Shakespeare and compare them",
        description=DESCRIPTION)
    add_out(parser, "results.json, curves.png and report.md",
            default=Path("reports/shakespeare"))
    train = defaults.train
    for flag, default, what in (("--steps", train.steps, "training steps per model"),
                                ("--batch", train.batch, "windows per training batch"),
                                ("--length", train.length, "characters per training window"),
                                ("--width", defaults.width, "model width"),
                                ("--depth", defaults.depth, "number of blocks"),
                                ("--heads", defaults.heads, "attention heads per block")):
        parser.add_argument(flag, type=positive_int, default=default,
                            help=f"{what} (default {default})")
    parser.add_argument("--seed", type=seed, default=train.seed,
                        help=f"seed of the weights and the windows (default {train.seed})")
    contexts = " ".join(map(str, defaults.generation_contexts))
    parser.add_argument("--contexts", type=positive_int, nargs="+",
                        default=defaults.generation_contexts, metavar="N",
                        help=f"prompt lengths after which generation speed is timed "
                             f"(default {contexts})")
    return parser


def config_of(args: argparse.Namespace) -> ExperimentConfig:
    """The experiment configuration the options describe."""
    defaults = ExperimentConfig()
    train = replace(defaults.train, steps=args.steps, batch=args.batch, length=args.length,
                    seed=args.seed, eval_every=max(1, min(defaults.train.eval_every,
                                                          args.steps)))
    return replace(defaults, width=args.width, depth=args.depth, heads=args.heads,
                   train=train, generation_contexts=tuple(args.contexts))


def check(args: argparse.Namespace) -> None:
    """Refuse, before training, an ``--out`` where the results cannot be written, a missing
    corpus, a window longer than a split, and a width, depth, head count or size the models
    cannot take or memory cannot hold; keep the configuration and the corpus on ``args``."""
    check_out(args, FILES)
    try:
        args.config = config_of(args)
    except ValueError as error:  # the configuration names the prompt lengths otherwise
        raise ValueError(str(error).replace("generation_contexts:", "--contexts:", 1)) \
            from None
    try:
        args.corpus = CharCorpus.shakespeare()
    except ModuleNotFoundError as error:  # the corpus is data: report it as a missing file
        raise FileNotFoundError(str(error)) from None
    for split in ("train", "validation"):
        args.corpus.batch(split, 1, args.config.train.length, torch.Generator())
    build_models(args.corpus.vocab_size, args.config)


def run(args: argparse.Namespace, console: Console) -> int:
    """Run the checked experiment with a progress bar; print the comparison and the report's
    path."""
    config, corpus = args.config, args.corpus
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("training", total=config.train.steps)

        def update(message: str, step: int, total: int) -> None:
            bar.update(task, description=message, completed=step, total=total)

        results = run_experiment(config, args.out, corpus=corpus, progress=update)
    table = Table(title="DTN against softmax attention, character-level Shakespeare",
                  title_justify="left")
    for col in ("model", "validation bpc", "train tokens/s",
                *(f"gen tok/s @ {c}" for c in config.generation_contexts)):
        table.add_column(col)
    for name, m in results["models"].items():
        table.add_row(name, f"{m['validation_bpc']:.3f}",
                      f"{m['train_tokens_per_second']:.0f}",
                      *(f"{v:.0f}" for v in m["generation_tokens_per_second"].values()))
    console.print(table)
    console.print(f"report: {(args.out / 'report.md').resolve()}")
    return 0
