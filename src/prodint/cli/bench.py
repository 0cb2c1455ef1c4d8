"""``prodint bench``: run a benchmark suite, print its table, append its records as JSON lines.

The suites are those of :data:`prodint.bench.suites.SUITES`; each record is one JSON object
(``suite, name, impl, params, fwd_ms, fwd_bwd_ms, peak_mem_mb, baseline, ratio_fwd,
ratio_fwd_bwd``, ratios against a baseline measured in the same run). With ``--json FILE``
they are appended to that file (rewritten atomically, earlier lines kept); without it they go
to standard output and the table to standard error.
"""

from __future__ import annotations

import argparse
import sys

import torch
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from prodint.bench.harness import Record, append_jsonl, write_jsonl
from prodint.bench.suites import SUITES, run_suite
from prodint.cli.arguments import device, writable_file

__all__ = ["add_parser", "check", "run", "table"]

DESCRIPTION = """\
Run one benchmark suite and record, for every case, the median forward and forward+backward
times, the peak memory and the ratios against the suite's baseline measured in the same run.
Suites: algebra (multiplication kernels), interaction (compiled expressions against torch),
zoo (every zoo family against its torch counterpart), dtn (tensor attention against causal
softmax attention, streaming steps), blocks (a DTN block against a Mamba block and a
softmax-attention block: training throughput, streaming step, state size), symmetry (the
O(3) tensor product against e3nn), hypercube (the training step against the published
formulation, end-to-end runs), spans (dense, convolution and graph layers as spans and
sparse matrices against torch's kernels) and train (training throughput of registry models
against plain torch, DDP scaling)."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prodint bench``."""
    parser = subparsers.add_parser("bench", help="run a benchmark suite and record it as "
                                                 "JSON lines", description=DESCRIPTION)
    parser.add_argument("suite", choices=sorted(SUITES), help="which suite to run")
    parser.add_argument("--json", type=writable_file, default=None, metavar="FILE",
                        help="append the records to this JSON-lines file (default: standard "
                             "output)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", type=device, default=default_device,
                        help=f"where the cases run (default {default_device})")
    parser.add_argument("--no-memory", action="store_true", help="skip peak-memory profiling")
    return parser


def table(records: list[Record]) -> Table:
    """A readable summary of the records."""
    t = Table(title=f"suite {records[0].suite}" if records else "no results")
    for col in ("name", "impl", "fwd ms", "fwd+bwd ms", "peak MB", "ratio fwd", "ratio f+b"):
        t.add_column(col, justify="left" if col in ("name", "impl") else "right")
    for r in records:
        t.add_row(r.name, r.impl, f"{r.fwd_ms:.3f}",
                  "-" if r.fwd_bwd_ms is None else f"{r.fwd_bwd_ms:.3f}",
                  "-" if r.peak_mem_mb is None else f"{r.peak_mem_mb:.1f}",
                  "-" if r.ratio_fwd is None else f"{r.ratio_fwd:.3f}",
                  "-" if r.ratio_fwd_bwd is None else f"{r.ratio_fwd_bwd:.3f}")
    return t


def check(args: argparse.Namespace) -> None:
    """Nothing more to refuse: the suite, the device and the ``--json`` file are checked while
    parsing."""
    del args


def run(args: argparse.Namespace, console: Console) -> int:
    """Run the suite; records to ``--json`` (or stdout), the table to the terminal."""
    # Standard output may carry the records themselves: progress and table go to stderr.
    status = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=status, transient=True) as progress:
        task = progress.add_task(args.suite)
        records = run_suite(args.suite, quick=args.quick, device=args.device,
                            memory=not args.no_memory,
                            progress=lambda s: progress.update(task, description=s))
    if args.json is None:
        write_jsonl(records, sys.stdout)
    else:
        append_jsonl(records, args.json)
        status.print(f"wrote {len(records)} records to {args.json}")
    status.print(table(records))
    return 0
