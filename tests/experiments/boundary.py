"""Boundary entries of prodint.experiments: the models, the records and the runs at tiny sizes.

The Shakespeare run uses a corpus of a few hundred characters, one training step and tiny
models; the polycube run one step on one sample per class; every file goes to a temporary
folder of this module.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from prodint.data.shakespeare import CharCorpus
from prodint.experiments.dtn_softmax import config_for
from prodint.experiments.figures import new_figure, write_png
from prodint.experiments.hypercube_runs import tables_for
from prodint.experiments.polycubes import (
    CoordinateMLP,
    ExperimentResult,
    PolycubeTFN,
    check_experiment,
    results_as_dicts,
    run_polycube_experiment,
)
from prodint.experiments.protocol import Budget, command
from prodint.experiments.reproduce import run_experiments
from prodint.experiments.shakespeare import (
    ExperimentConfig,
    build_models,
    check_sizes,
    run_experiment,
)
from prodint.experiments.structure_constants import RowProductNet, equivariance_error
from prodint.testing.contract import Entry
from prodint.train.lm import LMConfig

_FOLDER = tempfile.TemporaryDirectory(prefix="prodint-experiments-boundary-")
_ROOT = Path(_FOLDER.name)
_TEXT = ("ROMEO. But soft, what light through yonder window breaks? It is the east, and "
         "Juliet is the sun. Arise, fair sun, and kill the envious moon. ") * 4


def _pos(batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, 4, 3, generator=torch.Generator().manual_seed(0))


def _config(**fields: Any) -> ExperimentConfig:
    train = LMConfig(steps=1, batch=1, length=8, eval_every=1, eval_windows=1)
    return ExperimentConfig(**{**dict(width=8, depth=1, heads=2, train=train,
                                      generation_contexts=(4,), sample_tokens=2,
                                      final_windows=1, timing_seconds=0.0), **fields})


def _config_arguments() -> dict[str, Any]:
    return dict(width=8, depth=1, heads=2, train=LMConfig(steps=1, batch=1, length=8),
                generation_contexts=(4, 8), sample_tokens=2, final_windows=1,
                timing_seconds=0.0)


def _result_arguments() -> dict[str, Any]:
    return dict(model="tfn", parameters=1000, train_accuracy=1.0, canonical_accuracy=0.875,
                rotated_accuracy=0.5, seconds=1.5)


def _polycube_arguments() -> dict[str, Any]:
    return dict(steps=1, batch_per_class=1, test_per_class=1, train_rotations=2, noise=0.01,
                seed=3, lr=1e-3)


def _seeded(build: Any, *arguments: Any) -> Any:
    torch.manual_seed(0)
    return build(*arguments)


def _parameters(models: dict[str, torch.nn.Module]) -> list[int]:
    return [sum(p.numel() for p in m.parameters()) for m in models.values()]


def _run_arguments() -> dict[str, Any]:
    return dict(config=_config(), out=_ROOT / "shakespeare", corpus=CharCorpus.from_text(_TEXT),
                progress=lambda message, step, total: None, prompt="ROMEO.")


def _run(a: dict[str, Any]) -> list[float]:
    results = run_experiment(**a)
    return [m["validation_bpc"] for m in results["models"].values()]


_FIGURES = tempfile.TemporaryDirectory(prefix="prodint-figures-boundary-")


def _figure_png(a: dict[str, Any]) -> bytes:
    figure = new_figure(a["width"], a["height"])
    figure.add_subplot().plot([0, 1], [1, 0])
    return write_png(figure, a["path"], dpi=a["dpi"]).read_bytes()[:8]


def _reproduced(a: dict[str, Any]) -> list[str]:
    budget = Budget(a["size"], seed=a["seed"], device=a["device"])
    return [s.title for s in run_experiments(budget, a["out"], a["names"])] + \
        [command("tour", budget)]


ENTRIES = [
    Entry(("prodint.experiments.protocol.Budget", "prodint.experiments.protocol.command",
           "prodint.experiments.reproduce.run_experiments",
           "prodint.experiments.protocol.Experiment", "prodint.experiments.tour.run"),
          # names=[]: the arguments are checked, no experiment runs (the tour takes a minute)
          _reproduced, lambda: dict(size="tiny", seed=0, device="cpu", names=[],
                                    out=Path(_FIGURES.name) / "reproduce"),
          fixed=frozenset({"device", "names"})),
    Entry(("prodint.experiments.figures.new_figure", "prodint.experiments.figures.write_png"),
          _figure_png, lambda: dict(width=3.0, height=2.0, dpi=40,
                                    path=Path(_FIGURES.name) / "figure.png")),
    Entry(("prodint.experiments.polycubes.PolycubeTFN",),
          lambda a: _seeded(PolycubeTFN, a["classes"], a["hidden"], a["n_scalars"])(a["pos"]),
          lambda: dict(classes=8, hidden="2x0e + 1x1o", n_scalars=2, pos=_pos())),
    Entry(("prodint.experiments.polycubes.CoordinateMLP",),
          lambda a: _seeded(CoordinateMLP, a["points"], a["classes"], a["hidden"])(a["pos"]),
          lambda: dict(points=4, classes=8, hidden=16, pos=_pos())),
    Entry(("prodint.experiments.polycubes.ExperimentResult",),
          lambda a: ExperimentResult(**a).rotated_accuracy, _result_arguments,
          free_text=frozenset({"model"})),
    Entry(("prodint.experiments.polycubes.results_as_dicts",),
          lambda a: [r["model"] for r in results_as_dicts(**a)],
          lambda: dict(results=[ExperimentResult(**_result_arguments())])),
    Entry(("prodint.experiments.polycubes.check_experiment",),
          lambda a: check_experiment(**a), _polycube_arguments),
    # Every count in range is a valid run whose time grows with it (a random one may take
    # hours): the counts are fuzzed through check_experiment above, which the run calls first.
    Entry(("prodint.experiments.polycubes.run_polycube_experiment",),
          lambda a: [r.rotated_accuracy for r in run_polycube_experiment(**a)],
          _polycube_arguments,
          fixed=frozenset({"steps", "batch_per_class", "test_per_class", "train_rotations"})),
    Entry(("prodint.experiments.shakespeare.ExperimentConfig",),
          lambda a: replace(ExperimentConfig(**a)).width, _config_arguments),
    Entry(("prodint.experiments.shakespeare.check_sizes",), lambda a: check_sizes(**a),
          lambda: dict(config=_config(), vocab=40)),
    Entry(("prodint.experiments.shakespeare.build_models",),
          lambda a: _parameters(build_models(**a)), lambda: dict(vocab=40, config=_config())),
    Entry(("prodint.experiments.shakespeare.run_experiment",), _run, _run_arguments,
          free_text=frozenset({"prompt"})),
]

def _row_product(a: dict[str, Any]) -> torch.Tensor:
    torch.manual_seed(0)   # the zoo's Dense also reads the global generator
    net = RowProductNet(a["height"], a["width"], a["classes"], mode=a["mode"],
                        channels=a["channels"], seed=0, dtype=torch.float64)
    return net(a["x"])


ENTRIES += [
    Entry(("prodint.experiments.structure_constants.RowProductNet",), _row_product,
          lambda: dict(height=4, width=4, classes=3, mode="constrained", channels=2,
                       x=torch.rand(2, 1, 4, 4, dtype=torch.float64)),
          aliases={k: ("height, width, classes, channels",)
                   for k in ("height", "width", "classes", "channels")}),
    Entry(("prodint.experiments.structure_constants.equivariance_error",),
          lambda a: equivariance_error(a["gamma"]),
          lambda: dict(gamma=torch.randn(3, 3, 3, dtype=torch.float64))),
    Entry(("prodint.experiments.dtn_softmax.config_for",),
          lambda a: config_for(a["budget"]).width, lambda: dict(budget=Budget("tiny"))),
    Entry(("prodint.experiments.hypercube_runs.tables_for",),
          lambda a: [name for name, _ in tables_for(a["budget"])],
          lambda: dict(budget=Budget("tiny"))),
]

#: The experiments' runs train for seconds (tiny) to an hour (full): each is run at its
#: tiny budget by tests/experiments/test_<module>.py, and its arguments are those of
#: run_experiments above.
RUNS = {f"prodint.experiments.{m}.run": "an experiment's run (see RUNS)"
        for m in ("structure_constants", "order_rank", "sparse_forms", "dtn_softmax",
                  "hypercube_runs", "zoo_table")}

EXEMPT = {
    **RUNS,
    **{f"prodint.experiments.{m}.EXPERIMENT": "an experiment's registry entry"
       for m in ("structure_constants", "order_rank", "sparse_forms", "dtn_softmax",
                 "hypercube_runs", "zoo_table")},
    **{f"prodint.experiments.{m}.EXPERIMENT_NAME": "a constant, the experiment's name"
       for m in ("structure_constants", "order_rank", "dtn_softmax", "hypercube_runs",
                 "zoo_table")},
    "prodint.experiments.sparse_forms.NAME": "a constant, the experiment's name",
    "prodint.experiments.sparse_forms.TARGET": "a constant, the fraction defining the target",
    "prodint.experiments.sparse_forms.Comparison": "a result record, built by compare",
    "prodint.experiments.sparse_forms.compare": "trains a model twice (tested by "
                                                "test_sparse_forms.py)",
    "prodint.experiments.sparse_forms.ProjectedAttention": "the Transformer block of the "
                                                           "sparse-forms runs",
    "prodint.experiments.structure_constants.COLUMNS": "a constant, the table's columns",
    "prodint.experiments.structure_constants.DATASETS": "a constant, the data sets",
    "prodint.experiments.structure_constants.PENALTY": "a constant, the penalty weight",
    "prodint.experiments.structure_constants.SOURCE": "a constant, the source's figures",
    "prodint.experiments.order_rank.ORDERS": "a constant, the orders of the grid",
    "prodint.experiments.order_rank.RANKS": "a constant, the ranks of the grid",
    "prodint.experiments.dtn_softmax.eval_seconds": "reads a run's history (tested by "
                                                    "test_dtn_softmax.py)",
    "prodint.experiments.dtn_softmax.bpc_at_seconds": "reads a run's history (tested by "
                                                      "test_dtn_softmax.py)",
    "prodint.experiments.hypercube_runs.TableRun": "a result record, built by run_table",
    "prodint.experiments.hypercube_runs.run_table": "trains HyperCube on a table (tested by "
                                                    "test_hypercube_runs.py)",
    "prodint.experiments.hypercube_runs.TRAIN_FRACTION": "a constant, the observed share",
    "prodint.experiments.zoo_table.TINY_FAMILIES": "a constant, the tiny budget's families",
    "prodint.experiments.reproduce.EXPERIMENTS": "the registry of experiments",
    "prodint.experiments.protocol.SIZES": "a constant, the budget sizes",
    "prodint.experiments.tour.EXPERIMENT": "the tour's registry entry (run above)",
    "prodint.experiments.tour.STEPS": "a constant, the tour's sections",
    "prodint.experiments.polycubes.MAX_STEPS": "a constant (the most steps of a run)",
    "prodint.experiments.shakespeare.MAX_SAMPLE_TOKENS": "a constant (the longest sample)",
}
