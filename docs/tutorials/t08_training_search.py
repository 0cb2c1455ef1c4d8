"""
Training, reproducing, searching and distributed runs
=====================================================

``prodint.train`` trains models whose blocks are product interactions on real, offline data;
a run is one flat configuration (every key a TOML key and a command-line option), writes
metrics and an atomic safetensors checkpoint, and resumes bit for bit. The design space of
``prodint.interaction.space`` lists interactions up to an order, and ``prodint.search``
trains its candidates and ranks them; ``prodint.experiments`` (behind ``prodint reproduce``)
runs the source papers' experiments.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import torch
from safetensors.torch import load_file

from prodint.experiments.reproduce import EXPERIMENTS
from prodint.interaction import enumerate_space, parse_space
from prodint.search import plan_search, search
from prodint.train.config import config_from_mapping
from prodint.train.trainer import Progress, train

SMALL = os.environ.get("PRODINT_DOCS_SMALL") == "1"
STEPS = 6 if SMALL else 30  # optimiser steps of the training run
work = Path(tempfile.mkdtemp(prefix="prodint-tutorial-"))

# %%
# A training run
# --------------
# The configuration names the task (scikit-learn's 8×8 digits, read offline), the token
# mixer of every block (here a convolution), the sizes and the optimiser. A file
# ``run.toml`` with the same keys runs as ``prodint train --config run.toml --out DIR``.

config = config_from_mapping({"task": "digits", "mixer": "conv", "width": 16, "depth": 1,
                              "steps": STEPS, "batch": 32, "lr": 1e-2,
                              "eval_every": STEPS // 2, "log_every": STEPS // 2,
                              "checkpoint_every": STEPS // 3,
                              "eval_limit": 360, "seed": 0})
run = train(config, work / "run")
print("files:", sorted(p.name for p in (work / "run").iterdir()))
for line in (work / "run" / "metrics.jsonl").read_text().splitlines():
    record = json.loads(line)
    print({key: round(value, 4) for key, value in record.items() if key != "samples_per_s"})
print("final:", run.final)

# %%
# Resuming continues bit for bit
# ------------------------------
# A run is interrupted half way (here by an exception raised from its progress callback, as
# a killed process would stop), then resumed from its last checkpoint: it ends with exactly
# the weights of the uninterrupted run, because the batches, the learning rate and the
# random state are functions of the seed and the step.


class RunInterruptedError(Exception):
    """Stops a run from its progress callback."""


def interrupt_half_way(progress: Progress) -> None:
    """Raise once the run has done half of its steps."""
    if progress.step >= STEPS // 2:
        raise RunInterruptedError(progress.step)


try:
    train(config, work / "resumed", progress=interrupt_half_way)
except RunInterruptedError as stop:
    print("interrupted after step", stop.args[0])
resumed = train(config, work / "resumed", resume=True)
whole, parts = run.model.state_dict(), resumed.model.state_dict()
print("resumed weights == uninterrupted weights:",
      all(torch.equal(whole[name], parts[name]) for name in whole))

# %%
# Distributed runs
# ----------------
# Under ``torchrun`` every process takes its share of each global batch (gloo on the CPU,
# nccl on CUDA) and process 0 writes the files; the results equal a single process's with
# the same global batch up to the order of the reductions. At full size this cell writes the
# configuration as ``run.toml``, runs
#
# ``torchrun --nproc-per-node 2 -m prodint train --config run.toml --out DIR``
#
# and compares the final weights with a single process's.

short = dataclasses.replace(config, steps=4, eval_every=4, log_every=4)
if SMALL:
    print("distributed run: skipped at the small size")
else:
    toml = "\n".join(f"{key} = {json.dumps(value)}" for key, value in short.as_dict().items()
                     if value is not None)
    (work / "run.toml").write_text(toml + "\n")
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                    "-m", "prodint", "train", "--config", str(work / "run.toml"), "--out",
                    str(work / "ddp")], check=True, capture_output=True)
    single = train(short, work / "single").model.state_dict()
    shared = {name.removeprefix("model."): tensor for name, tensor in
              load_file(work / "ddp" / "checkpoint.safetensors").items()
              if name.startswith("model.")}
    print("2 processes vs 1, largest weight difference:",
          f"{max(float((shared[name] - single[name]).abs().max()) for name in single):.1e}")

# %%
# Reproducing the source papers
# -----------------------------
# ``prodint reproduce [--quick] [--only NAME ...] --out DIR`` runs the source papers'
# experiments at this scale and writes one report, each section with our numbers beside the
# source's and the command that reruns it alone. The experiments, with their quick and full
# budgets:

for experiment in EXPERIMENTS:
    print(f"{experiment.name:20s} quick {experiment.quick_minutes:4.1f} min, full "
          f"{experiment.full_minutes:6.1f} min: {experiment.title}")

# %%
# The design space
# ----------------
# ``parse_space`` reads a space's text; ``enumerate_space`` builds every candidate
# interaction at a width and a length, each with its formula, order, parameter count and the
# classical layer it is, when it is one.

spec = parse_space("order=2,algebras=hadamard,mixing=window+attention,functions=id")
candidates = enumerate_space(spec, width=16, length=64)
print(len(candidates), "candidates; by order:", dict(sorted(Counter(
    c.order for c in candidates).items())))
for candidate in candidates:
    print(f"  order {candidate.order}  {candidate.parameters:5d} parameters  "
          f"causal={candidate.causal!s:5s} {candidate.classical or '-':4s} {candidate.key}")
print("the first as mathematics:", candidates[0].formula)

# %%
# A search
# --------
# ``search`` trains candidates of a space briefly on a real task (here the digits read pixel
# by pixel), in one Optuna study that several workers, or machines, can share, and writes a
# ranked report. ``plan_search`` checks everything first and writes nothing; from the command
# line, ``prodint search --space ... --task seq-digits --budget N --out DIR``.

space = "order=2,algebras=hadamard,mixing=window,functions=id"
budget, steps = (1, 2) if SMALL else (2, 5)
plan = plan_search(space, "seq-digits", budget, work / "search", steps=steps, width=8)
print(f"{plan.size} candidates, budget {plan.budget}: the study is {plan.settings.mode}")
report = search(space, "seq-digits", budget, work / "search", steps=steps, width=8)
results = json.loads((work / "search" / "results.json").read_text())
print("report:", report.name, " metric:", results["metric"])
for trial in results["trials"]:
    print({key: trial[key] for key in ("rank", "key", "order", "parameters", "state", "metric")})

# %%
# The runs above were written into a temporary folder; remove it.

shutil.rmtree(work)
