"""Command line: ``python -m prodint.bench SUITE [--json FILE] [--quick] [--device DEV]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from prodint.bench.harness import Record, append_jsonl, write_jsonl
from prodint.bench.suites import SUITES, run_suite


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m prodint.bench", description=__doc__)
    parser.add_argument("suite", choices=sorted(SUITES), help="which suite to run")
    parser.add_argument("--json", type=Path, default=None,
                        help="append results to this JSON-lines file (default: stdout)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(args.suite)
        records = run_suite(args.suite, quick=args.quick, device=args.device,
                            memory=not args.no_memory,
                            progress=lambda s: progress.update(task, description=s))
    if args.json is None:
        write_jsonl(records, sys.stdout)
    else:
        append_jsonl(records, args.json)
        console.print(f"wrote {len(records)} records to {args.json}")
    console.print(table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
