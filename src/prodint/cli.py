"""The ``prodint`` command line.

``prodint demo`` runs the main job, a tour of what prodint builds, and writes its report:
the algebra catalogue with each algebra's verified identities, classical layers as product
interactions with their orders and the compiled modules' agreement with the reference, the
zoo of classical layers measured against torch,
learned structure constants constrained by a symmetry, the Deep Tensor Network operators in
their three forms, HyperCube's verdict on group and non-group tables, and the size of the
design space.
``prodint catalogue`` prints the algebra catalogue only; ``prodint zoo`` measures every zoo
family against its torch (or peer) reference; ``prodint shakespeare`` trains a Deep Tensor
Network and a softmax Transformer of the same size on character-level Shakespeare and compares
validation bits per character, training and generation speed; ``prodint symmetry`` trains a
tensor field network and a coordinate MLP on polycubes in one orientation and tests them on
random rotations; ``prodint hypercube`` asks whether an operation table is a group and learns
its representation.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

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

from prodint.algebra.survey import survey
from prodint.hypercube import cli as hypercube_cli
from prodint.interaction.survey import design_space_rows, library_rows, symmetry_rows
from prodint.report import Section, rich_table, write_report
from prodint.symmetry import cli as symmetry_cli
from prodint.train.dtn_experiment import ExperimentConfig, run_experiment


def catalogue_section() -> Section:
    """The algebra catalogue with verified identities."""
    section = Section(
        "Algebra catalogue",
        "Each algebra's defining identity is checked in float64 against an independent "
        "computation; the residual is the largest absolute difference.",
        ["algebra", "dim", "nnz", "kernel", "unit", "commutative", "associative",
         "alternative", "defining identity", "residual"],
    )
    for r in survey():
        section.rows.append([r.name, r.dim, r.nnz, r.kernel, r.unital, r.commutative,
                             r.associative, r.alternative, r.identity, r.residual])
    return section


def interaction_section() -> Section:
    section = Section(
        "Classical layers as product interactions",
        "Each layer written in the expression language, with its self-interaction order; "
        "error is the largest difference between the compiled module and the reference "
        "evaluation (float64).",
        ["layer", "order", "parameters", "error", "expression"],
    )
    for r in library_rows():
        section.rows.append([r.name, r.order, r.parameters, r.max_error, r.expression])
    return section


def symmetry_section() -> Section:
    section = Section(
        "Learned structure constants under a symmetry",
        "Constrained mode parametrizes Γ in the equivariant basis: the error is the worst "
        "|Γ(ρx, ρy) − ρΓ(x, y)| over every group element (float64). A free Γ is far from the "
        "equivariant subspace (its penalty ‖Γ − P_G Γ‖²).",
        ["group", "representation", "equivariant basis size", "equivariance error",
         "free-mode penalty"],
    )
    for r in symmetry_rows():
        section.rows.append([r.group, r.representation, r.basis_size, r.equivariance_error,
                             r.free_penalty])
    return section


def design_space_section() -> Section:
    section = Section(
        "The design space",
        "Distinct product interactions (up to renaming of parameters) over the Hadamard, "
        "complex and quaternion algebras, by self-interaction order.",
        ["order", "interactions"],
    )
    section.rows = [[order, count] for order, count in design_space_rows()]
    return section


def zoo_section(progress=None) -> Section:
    """Every zoo family against its reference: order, error, speed."""
    from prodint.zoo.survey import survey as zoo_survey

    section = Section(
        "The zoo: classical layers, exact against torch",
        "Each family as a product interaction with its order; error is the largest "
        "difference to the reference (float64) over the native forward and the general "
        "expression path; time is the forward-time ratio to the reference (float32).",
        ["family", "reference", "order", "max error", "time ratio", "expression"],
    )
    for r in zoo_survey(progress=progress):
        expression = r.expression if len(r.expression) <= 90 else r.expression[:87] + "..."
        section.rows.append([r.name, r.reference, r.order, r.max_error,
                             round(r.time_ratio, 3), expression])
    return section


def dtn_section() -> Section:
    """Tensor attention and tensor interaction: three forms agree; chunk against SDPA."""
    from prodint.ops.survey import forms_rows, speed_row

    section = Section(
        "Deep Tensor Network operators",
        "Each operator's chunked and streaming forms against the T × T definition (float64, "
        "T = 75, chunk 16: outputs and final states, error relative to the largest value); "
        "the last row times the chunked form against causal softmax attention "
        "(scaled_dot_product_attention, float32, B=1, H=8, D=64, forward).",
        ["operator", "variant", "T", "chunk error", "recurrent error"],
    )
    for r in forms_rows():
        section.rows.append([r.operator, r.variant, r.length, r.chunk_error,
                             r.recurrent_error])
    speed = speed_row()
    section.rows.append(["chunk time / SDPA time", f"{speed.chunk_ms:.0f} ms / "
                         f"{speed.sdpa_ms:.0f} ms", speed.length, round(speed.ratio, 3), ""])
    return section


def hypercube_section() -> Section:
    """HyperCube's verdict on small groups and a Latin square that is not a group isotope."""
    from prodint.hypercube import analyze_table, make_table

    section = Section(
        "HyperCube: is the table a group?",
        "Each table factorized as T[a,b,c] = tr(A_a B_b C_c)/n from every cell (seed 0): "
        "h_ratio = H/3n² is 1 exactly for group isotopes with unitary factors.",
        ["table", "n", "expected group", "verdict", "h_ratio", "unitarity error"],
    )
    for task, expected in (("s3", True), ("z6", True), ("latin5", False)):
        d = analyze_table(make_table(task), train_fraction=1.0, seed=0).diagnostics
        section.rows.append([task, d.n, expected, d.is_group_isotope, round(d.h_ratio, 6),
                             d.unitarity_error])
    return section


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prodint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main job and write a report")
    demo.add_argument("--out", type=Path, default=Path("reports/demo"),
                      help="folder for the report (default: reports/demo)")
    sub.add_parser("catalogue", help="print the algebra catalogue with verified identities")
    sub.add_parser("zoo", help="every classical layer family against its torch reference")
    lm = sub.add_parser("shakespeare", help="train a DTN and a softmax Transformer of the same "
                        "size on character-level Shakespeare and compare them")
    lm.add_argument("--out", type=Path, default=Path("reports/shakespeare"),
                    help="folder for results.json, curves.png, report.md")
    defaults = ExperimentConfig()
    lm.add_argument("--steps", type=int, default=defaults.train.steps)
    lm.add_argument("--batch", type=int, default=defaults.train.batch)
    lm.add_argument("--length", type=int, default=defaults.train.length,
                    help="characters per training window")
    lm.add_argument("--width", type=int, default=defaults.width)
    lm.add_argument("--depth", type=int, default=defaults.depth)
    lm.add_argument("--heads", type=int, default=defaults.heads)
    lm.add_argument("--seed", type=int, default=defaults.train.seed)
    symmetry_cli.add_parser(sub)
    hypercube_cli.add_parser(sub)
    lm.add_argument("--contexts", type=int, nargs="+", default=defaults.generation_contexts,
                    help="prompt lengths after which generation speed is timed")
    return parser


def shakespeare(args: argparse.Namespace, console: Console) -> int:
    """``prodint shakespeare``: the DTN experiment with a progress bar."""
    defaults = ExperimentConfig()
    train = replace(defaults.train, steps=args.steps, batch=args.batch, length=args.length,
                    seed=args.seed, eval_every=max(1, min(defaults.train.eval_every,
                                                          args.steps)))
    config = replace(defaults, width=args.width, depth=args.depth, heads=args.heads,
                     train=train, generation_contexts=tuple(args.contexts))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("loading Shakespeare", total=config.train.steps)

        def update(message: str, step: int, total: int) -> None:
            bar.update(task, description=message, completed=step, total=total)

        results = run_experiment(config, args.out, progress=update)
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Reports are often piped to a file: keep rows on one line there.
    console = Console(width=None if sys.stdout.isatty() else 200)
    if args.command == "catalogue":
        console.print(rich_table(catalogue_section()))
        return 0
    if args.command == "hypercube":
        return hypercube_cli.run(args, console)
    if args.command == "symmetry":
        return symmetry_cli.run(args, console)
    if args.command == "shakespeare":
        return shakespeare(args, console)
    if args.command == "zoo":
        with console.status("measuring the zoo") as status:
            section = zoo_section(lambda name: status.update(f"measuring the zoo: {name}"))
        console.print(rich_table(section))
        return 0 if all(r[3] <= 1e-10 for r in section.rows) else 1
    steps = [("surveying the algebra catalogue", catalogue_section),
             ("compiling classical layers", interaction_section),
             ("measuring the zoo against torch", zoo_section),
             ("solving for equivariant structure constants", symmetry_section),
             ("checking the Deep Tensor Network operators", dtn_section),
             ("asking HyperCube which tables are groups", hypercube_section),
             ("enumerating the design space", design_space_section)]
    sections = []
    for message, build in steps:
        with console.status(message):
            sections.append(build())
        console.print(rich_table(sections[-1]))
    report = write_report(sections, args.out)
    console.print(f"report: {report.resolve()}")
    verified = all(r[-1] <= 1e-10 for r in sections[0].rows) and \
        all(r[3] <= 1e-10 for r in sections[1].rows) and \
        all(r[3] <= 1e-10 for r in sections[2].rows) and \
        all(r[3] <= 1e-10 for r in sections[3].rows) and \
        all(r[3] <= 1e-10 and r[4] <= 1e-10 for r in sections[4].rows[:-1]) and \
        all(r[2] == r[3] for r in sections[5].rows)
    return 0 if verified else 1


if __name__ == "__main__":
    raise SystemExit(main())
