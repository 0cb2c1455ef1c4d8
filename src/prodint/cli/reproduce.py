"""``prodint reproduce``: the source papers' experiments at our scale, in one report.

Runs the experiments of :data:`prodint.experiments.reproduce.EXPERIMENTS` (or those named by
``--only``), prints every section as it comes and writes ``report.md``, ``report.json`` and
the plots into ``--out``. ``--quick`` is the small budget ``make demo`` runs (under ten
minutes on two CPU cores); the full budget's time is listed by ``--help``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from prodint.cli.arguments import add_out, check_out, seed
from prodint.experiments.protocol import Budget
from prodint.experiments.reproduce import EXPERIMENTS, run_experiments
from prodint.report import print_section, write_report

__all__ = ["FILES", "add_parser", "check", "report", "run"]

#: The files written under ``--out`` (besides the plots).
FILES = ("report.md", "report.json")


def _description() -> str:
    lines = ["Run the source papers' experiments (the tour first) and write one report with "
             "a table and plots per experiment, our numbers beside the source's.", "",
             "Experiments (quick / full minutes on 2 CPU cores):"]
    for e in EXPERIMENTS:
        lines.append(f"  {e.name}: {e.title} ({e.quick_minutes:g} / {e.full_minutes:g})")
    return "\n".join(lines)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``prodint reproduce``."""
    parser = subparsers.add_parser(
        "reproduce", help="run the source papers' experiments and write one report",
        description=_description(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="the small budget (what make demo runs)")
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None,
                        choices=[e.name for e in EXPERIMENTS],
                        help="run only these experiments")
    parser.add_argument("--seed", type=seed, default=0, help="seed of every run (default 0)")
    add_out(parser, "report.md, report.json and the plots", default=Path("reports/reproduce"))
    return parser


def check(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` where the report cannot be written, before anything runs."""
    check_out(args, FILES)


def run(args: argparse.Namespace, console: Console) -> int:
    """Run, print and write every section; 0 if every check passed, else 1."""
    budget = Budget("quick" if args.quick else "full", seed=args.seed)
    return report(budget, args.out, args.only, console)


def report(budget: Budget, out: Path, names: list[str] | None, console: Console) -> int:
    """Run the experiments ``names`` (all by default) with ``budget`` under a status line,
    print every section, write the report into ``out``; 0 if every check passed, else 1."""
    with console.status("starting") as status:
        sections = run_experiments(budget, out, names,
                                   progress=lambda title: status.update(title))
    for section in sections:
        print_section(console, section)
    written = write_report(sections, out)
    console.print(f"report: {written.resolve()}")
    return 0 if all(s.passed for s in sections) else 1
