"""Sparse-matrix forms train like native ones (Zhu, "Unified sparse-matrix representations").

The source casts convolution, recurrence and attention as sparse matrices and reports that
the sparse formulations match or exceed the native models (MNIST/CIFAR, ETTh1/Electricity,
language modelling) in comparable or fewer epochs. prodint states every linear layer as a
span, hence as a CSR matrix ``y = M(w) x + b(w)`` whose values are functions of the layer's
own parameters (:func:`prodint.sparse.sparsify`): the sparse form computes the same
function with the same parameters, so from one seed and one data order the two forms must
trace the same loss curve up to float rounding. Three models are each trained twice,
native and in sparse form (``TrainConfig(sparse=True)``):

1. a convolutional network on images (``digits``; also ``mnist5k`` in the full budget): the
   image is the sequence of its rows, mixed by a kernel-3 convolution over the rows
   (``conv``), a banded matrix;
2. a recurrent network on the electricity-demand forecast: the linear recurrence
   ``h_t = a ⊙ h_{t-1} + x_t W`` (``linear_recurrence``), unrolled over the 48 steps into a
   block lower-triangular matrix;
3. a small causal Transformer on Shakespeare characters (:class:`ProjectedAttention`):
   its query, key, value and output projections, the MLPs and the head go sparse; the
   attention core ``softmax(q kᵀ / √d + mask) v`` is not linear in the signal and stays as
   it is.

Every linear layer of the embeddings, the MLPs and the heads is swapped too; the rows count
the swapped layers (:class:`~prodint.sparse.SparseLayer` modules after ``sparsify``).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.bench.harness import interleaved_ms
from prodint.checks import check_float, check_instance, check_int, check_tensor
from prodint.experiments.figures import new_figure, write_png
from prodint.experiments.protocol import Budget, Experiment, command
from prodint.report import Section
from prodint.sparse import SparseLayer, sparsify
from prodint.train.config import TrainConfig
from prodint.train.models import MixerModel, build_model
from prodint.train.tasks import TASKS, Task, TaskData
from prodint.train.trainer import Progress, evaluate, train
from prodint.zoo import Dense

__all__ = ["EXPERIMENT", "NAME", "TARGET", "Comparison", "ProjectedAttention", "compare",
           "run"]

NAME = "sparse-forms"
#: Steps to target: the first evaluation reaching ``m0 + TARGET · (m_native - m0)``, with
#: ``m0`` the untrained model's metric and ``m_native`` the native run's final one.
TARGET = 0.9
#: The loss curves must agree to this relative difference at the first step (the same
#: function) and to ``CURVE_TOLERANCE`` over the run (rounding amplified by training).
STEP_TOLERANCE = {"float32": 1e-5, "float64": 1e-10}
CURVE_TOLERANCE = {"float32": 1e-2, "float64": 1e-8}
CLAIM = "sparse matches or exceeds native, in comparable or fewer epochs"
COLUMNS = ["task", "form", "linear layers in sparse form", "final {metric}",
           "steps to target", "ms per step", "largest relative loss difference", "source"]


class ProjectedAttention(nn.Module):
    """Causal multi-head softmax attention on ``[B, T, width]`` whose projections are
    separate :class:`~prodint.zoo.Dense` layers (each linear, so each has a sparse form):

    ``o = Wo · concat_h softmax_s(q_h k_hᵀ / √d + causal mask) v_h``, ``q = Wq x``,
    ``k = Wk x``, ``v = Wv x`` (``d = width / heads``), the core by torch's
    ``scaled_dot_product_attention``.

    Raises:
        TypeError, ValueError: a width or head count that is not a positive int, heads that
            do not divide the width.
    """

    def __init__(self, width: int, heads: int, *, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        width = check_int(width, "width", minimum=1)
        heads = check_int(heads, "heads", minimum=1, maximum=width)
        if width % heads:
            raise ValueError(f"heads: expected a divisor of width {width}, received {heads}")
        self.width, self.heads, self.dtype = width, heads, dtype
        self.q, self.k, self.v, self.o = (Dense(width, width, dtype=dtype, generator=generator)
                                          for _ in range(4))

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, T, width]`` (the parameters' dtype) to ``[B, T, width]``."""
        x = check_tensor(x, "x", rank=3, shape=(None, None, self.width), layout="[B, T, C]",
                         dtypes=(self.dtype,))
        b, t, _ = x.shape

        def split(y: Tensor) -> Tensor:
            return y.reshape(b, t, self.heads, self.width // self.heads).transpose(1, 2)

        o = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)),
                                           split(self.v(x)), is_causal=True)
        return self.o(o.transpose(1, 2).reshape(b, t, self.width))


@dataclass(frozen=True)
class Comparison:
    """One model trained in both forms. ``losses[form]``: the training loss of every step;
    ``evals[form]``: ``(steps done, metric)`` at every evaluation; ``initial``: the untrained
    model's metric; ``ms[form]``: the median time of a step; ``swapped``: the layers in
    sparse form; ``higher_is_better``: the direction of the metric."""

    losses: dict[str, list[float]]
    evals: dict[str, list[tuple[int, float]]]
    initial: float
    ms: dict[str, float]
    swapped: int
    higher_is_better: bool

    def target(self) -> float | None:
        """The metric a run must reach (:data:`TARGET`), ``None`` where the native run did
        not improve on the untrained model."""
        final = self.evals["native"][-1][1]
        gain = final - self.initial
        if not math.isfinite(final) or (gain <= 0 if self.higher_is_better else gain >= 0):
            return None
        return self.initial + TARGET * gain

    def steps_to_target(self, form: str) -> int | None:
        """The steps ``form`` took to reach :meth:`target` (``None``: never, or no target)."""
        target = self.target()
        if target is None:
            return None
        sign = 1.0 if self.higher_is_better else -1.0
        return next((s for s, m in self.evals[form] if sign * (m - target) >= 0), None)

    def difference(self) -> list[float]:
        """``|loss_native - loss_sparse| / |loss_native|`` at every step."""
        return [abs(a - b) / max(abs(a), 1e-30)
                for a, b in zip(self.losses["native"], self.losses["sparse"], strict=True)]


def compare(config: TrainConfig, make: Callable[[TaskData], nn.Module], folder: Path, *,
            timing_seconds: float = 0.2) -> Comparison:
    """Train ``make(data)`` as ``config`` says, natively and in sparse form (two fresh
    builds from the same seed; ``config.sparse`` is ignored), each run writing into its own
    subfolder of ``folder``; then time a training step (forward and backward of one batch)
    of the two trained models interleaved
    (:func:`~prodint.bench.harness.interleaved_ms`, blocks of at least ``timing_seconds``),
    so that a busy machine slows both alike.

    Raises:
        TypeError, ValueError: as :func:`prodint.train.trainer.train`, a ``timing_seconds``
            outside ``[0, 60]``.
        NonFiniteLossError: a run diverged.
    """
    timing_seconds = check_float(timing_seconds, "timing_seconds", minimum=0.0, maximum=60.0)
    task: Task = TASKS[config.task]
    data = task.load(config.seed, config.data_root)
    initial = evaluate(make(data), task, data.test_x, data.test_y, limit=config.eval_limit)
    losses: dict[str, list[float]] = {}
    evals, models = {}, {}
    for form in ("native", "sparse"):
        curve: list[float] = []

        def tick(progress: Progress, curve: list[float] = curve) -> None:
            curve.append(progress.loss)

        run = replace(config, sparse=form == "sparse")
        result = train(run, folder / form, model=make(data), progress=tick)
        key = f"eval_{task.metric_name}"
        losses[form] = curve
        evals[form] = [(int(r["step"]) + 1, float(r[key])) for r in result.records if key in r]
        models[form] = result.model
    swapped = sum(isinstance(m, SparseLayer) for m in models["sparse"].modules())
    x, y = data.train_x[:config.batch], data.train_y[:config.batch]
    dtype, device = getattr(torch, config.dtype), torch.device(config.device)
    x = x.to(device=device, dtype=dtype) if x.is_floating_point() else x.to(device)
    y = y.to(device=device, dtype=dtype) if y.is_floating_point() else y.to(device)

    def step(model: nn.Module) -> None:
        model.zero_grad(set_to_none=True)
        task.loss(model(x), y).backward()

    times = interleaved_ms([lambda m=models[f]: step(m) for f in ("native", "sparse")],
                           min_seconds=timing_seconds)
    ms = dict(zip(("native", "sparse"), times, strict=True))
    return Comparison(losses, evals, initial, ms, swapped, task.higher_is_better)


def _mixer_model(task: str, mixer: str, config: TrainConfig) -> Callable[[TaskData], nn.Module]:
    """A builder of the library model of ``mixer`` for ``task`` with ``config``'s sizes."""
    def make(data: TaskData) -> MixerModel:
        return build_model(TASKS[task].kind, mixer, width=config.width, depth=config.depth,
                           classes=data.classes, in_features=data.in_features,
                           vocab=data.vocab, horizon=data.horizon, seed=config.seed,
                           dtype=getattr(torch, config.dtype), causal=config.causal)

    return make


def _transformer(config: TrainConfig) -> Callable[[TaskData], nn.Module]:
    """A builder of the library's token model with every mixer a :class:`ProjectedAttention`
    (2 heads, drawn from ``seed + 1``)."""
    library = _mixer_model("shakespeare", "dense", config)

    def make(data: TaskData) -> MixerModel:
        model = library(data)
        generator = torch.Generator().manual_seed(config.seed + 1)
        for block in model.blocks:
            block.mixer = ProjectedAttention(config.width, 2, generator=generator,
                                             dtype=getattr(torch, config.dtype))
        model.config["mixer"] = "projected_attention"
        return model

    return make


def _sizes(budget: Budget) -> dict[str, object]:
    return budget.pick(
        dict(width=8, depth=1, steps=4, batch=8, eval_every=2, eval_limit=16, lr=1e-2,
             dtype="float64", warmup=1),
        dict(width=16, depth=2, steps=60, batch=32, eval_every=6, eval_limit=128, lr=1e-2,
             dtype="float32", warmup=6),
        dict(width=32, depth=2, steps=1000, batch=32, eval_every=50, eval_limit=500, lr=3e-3,
             dtype="float32", warmup=50))  # type: ignore[return-value]


@dataclass(frozen=True)
class _Model:
    key: str
    title: str
    tasks: tuple[str, ...]
    mixer: str
    causal: bool
    metric: str
    note: str


def _models(budget: Budget) -> tuple[_Model, ...]:
    images = budget.pick(("digits",), ("digits",), ("digits", "mnist5k"))
    return (
        _Model("cnn", "Sparse forms: a convolutional network on images", images, "conv",
               False, "accuracy", "The convolution over the image rows is a banded matrix"),
        _Model("rnn", "Sparse forms: a linear recurrence on the electricity forecast",
               ("electricity",), "linear_recurrence", False, "MSE",
               "The recurrence unrolled over 48 steps is a block lower-triangular matrix"),
        _Model("transformer", "Sparse forms: a causal Transformer on Shakespeare",
               ("shakespeare",), "projected_attention", True, "bits/char",
               "The projections, MLPs and head go sparse; the softmax attention core is not "
               "linear in its signal and stays as it is"),
    )


def _library_attention_swaps(config: TrainConfig) -> int:
    """Linear layers ``sparsify`` swaps in the library's ``softmax_attention`` token model,
    where attention (projections included) is one layer whose expression is not linear."""
    model = build_model("tokens", "softmax_attention", width=config.width, depth=config.depth,
                        classes=65, vocab=65, seed=config.seed, causal=True,
                        dtype=getattr(torch, config.dtype))
    return sum(isinstance(m, SparseLayer) for m in sparsify(model).modules())


def _plot(runs: dict[str, Comparison], path: Path) -> None:
    figure = new_figure(10.0, 3.6)
    curves, gaps = figure.subplots(1, 2)
    for task, c in runs.items():
        for form, style in (("native", "-"), ("sparse", "--")):
            curves.plot(range(1, len(c.losses[form]) + 1), c.losses[form], style,
                        label=f"{task} {form}")
        differing = [(s, d) for s, d in enumerate(c.difference(), 1) if d > 0]
        equal = len(c.losses["native"]) - len(differing)
        gaps.plot([s for s, _ in differing], [d for _, d in differing], ".",
                  label=f"{task} ({equal} steps exactly equal)")
    curves.set(xlabel="step", ylabel="training loss", title="Loss: native (—) vs sparse (--)")
    gaps.set(xlabel="step", ylabel="|Δ loss| / loss", yscale="log",
             title="Difference of the two curves (nonzero steps)")
    for axes in (curves, gaps):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    write_png(figure, path)


def _section(model: _Model, runs: dict[str, Comparison], config: TrainConfig, budget: Budget,
             plot: str) -> Section:
    rows, notes, passed = [], [], True
    for task, c in runs.items():
        differences = c.difference()
        largest = max(differences) if differences else float("nan")
        agree = bool(differences) and differences[0] <= STEP_TOLERANCE[config.dtype] and \
            largest <= CURVE_TOLERANCE[config.dtype]
        passed = passed and agree and c.swapped > 0
        for form in ("native", "sparse"):
            steps = c.steps_to_target(form)
            rows.append([task, form, c.swapped if form == "sparse" else 0,
                         c.evals[form][-1][1], "—" if steps is None else steps,
                         c.ms[form], largest if form == "sparse" else "—",
                         CLAIM if form == "sparse" else "—"])
        if not agree:
            notes.append(f"{task}: the curves differ by {largest:.2e} relative (first step "
                         f"{differences[0]:.2e}), beyond {CURVE_TOLERANCE[config.dtype]:g}.")
        if c.target() is None:
            notes.append(f"{task}: the native run did not improve on the untrained model "
                         f"({c.initial:.4g}); no target.")
        if c.ms["sparse"] > c.ms["native"]:
            notes.append(f"{task}: a sparse step takes {c.ms['sparse'] / c.ms['native']:.1f}× "
                         "the native one: CSR products on the CPU are slower than the dense "
                         "kernels, so the sparse form is a check of the formulation, not a "
                         "speed-up.")
    intro = (f"{model.note}. Each form is trained from seed {config.seed} on the "
             f"same batches ({config.steps} steps of {config.batch}, width {config.width}, "
             f"depth {config.depth}, {config.dtype}). Steps to target: the first evaluation "
             f"(every {config.eval_every} steps) reaching {TARGET:.0%} of the native run's "
             f"improvement of the {model.metric} over the untrained model. Largest difference: "
             f"max over steps of |Δ loss| / loss, required ≤ {STEP_TOLERANCE[config.dtype]:g} "
             f"at the first step (the same function) and ≤ {CURVE_TOLERANCE[config.dtype]:g} "
             f"over the run (rounding amplified by training). ms per step: forward and "
             f"backward of one training batch, both forms timed interleaved after training.")
    if model.key == "transformer":
        notes.append(f"With the library's softmax_attention mixer, attention and its "
                     f"projections are one layer whose expression is not linear: sparsify "
                     f"keeps it whole and swaps {_library_attention_swaps(config)} layers "
                     f"(MLPs, head); hence the model with separate projections here.")
    columns = [c.format(metric=model.metric) for c in COLUMNS]
    return Section(model.title, intro, columns, rows, passed=passed, notes=notes,
                   plots=[plot], command=command(NAME, budget))


def run(budget: Budget, out: Path) -> list[Section]:
    """One section per model (module docstring), its loss curves in
    ``sparse-forms-<model>.png`` under ``out``; the runs' files go to a temporary folder."""
    check_instance(budget, "budget", Budget)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = TrainConfig(device=budget.device, seed=budget.seed, log_every=10**9,
                       checkpoint_every=10**9, **_sizes(budget))  # type: ignore[arg-type]
    sections = []
    with tempfile.TemporaryDirectory() as scratch:
        for model in _models(budget):
            runs = {}
            for task in model.tasks:
                config = replace(base, task=task, mixer=model.mixer, causal=model.causal)
                make = _transformer(config) if model.key == "transformer" else \
                    _mixer_model(task, model.mixer, config)
                runs[task] = compare(config, make, Path(scratch) / f"{model.key}-{task}",
                                     timing_seconds=float(budget.pick(0.01, 0.1, 1.0)))
            plot = f"{NAME}-{model.key}.png"
            _plot(runs, out / plot)
            sections.append(_section(model, runs, config, budget, plot))
    return sections


EXPERIMENT = Experiment(NAME, "Sparse-matrix forms train like native ones", run,
                        quick_minutes=0.5, full_minutes=45.0)
