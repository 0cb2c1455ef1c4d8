"""Self-interaction order × projection rank on sequential digits and the copy task.

The source reports that accuracy on sequential MNIST and on a copy task rises with the
self-interaction order (1 → 2 → 3) and with the projection rank (R = 1 → 2 → 4). Here every
cell of the 3 × 3 grid trains the same model (:func:`prodint.train.higher_order.
higher_order_model`: same width, depth, steps, batch, learning rate and seed) whose blocks mix
with the order-``k`` product interaction

    ``y = W_o((P_1 x + b_1) ⊙ … ⊙ (P_k x + b_k))``,
    ``P_i x[t] = Σ_ℓ x[t-ℓ] B_i K_i[ℓ] A_i``   (``x[t]`` a row of ``width`` channels)

where ``B_i: width → R``, ``K_i[ℓ]: R → R`` (a causal convolution along time, as long as the
sequence) and ``A_i: R → width``: at every lag the channel map of ``P_i`` factors through
``R`` channels, so its rank is at most ``R`` (the projection rank), and the layer's order,
derived from its expression, is ``k``. The tasks are ``seq-digits`` (the 8×8 digits pixel by
pixel, 64 steps; the model pools over time) and ``copy`` (recall 10 symbols after 10 blanks,
31 steps; a causal model); the full budget adds ``pseq-digits`` (a fixed permutation of the
pixels). One section per task: the accuracy of every cell beside the source's claim, a plot
of accuracy against the order (one line per rank) and a heat map.

Budgets (every cell alike; AdamW at 3e-3, cosine schedule): ``tiny`` width 8, one block, 2
steps of 8 (a few seconds in all); ``quick`` width 32, two blocks, 120 steps of 32 (about a
minute on two cores: the accuracy already rises with the order and the rank); ``full``
width 64, two blocks, 2000 steps of 64 on the three tasks (about 40 minutes).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path

from prodint.checks import check_instance
from prodint.experiments.figures import new_figure, write_png
from prodint.experiments.protocol import Budget, Experiment, command
from prodint.report import Section
from prodint.storage import check_output_folder
from prodint.train.config import TrainConfig
from prodint.train.higher_order import higher_order_model
from prodint.train.tasks import TASKS, TaskData
from prodint.train.trainer import NonFiniteLossError, train

__all__ = ["EXPERIMENT", "EXPERIMENT_NAME", "ORDERS", "RANKS", "run"]

EXPERIMENT_NAME = "order-rank"
#: The self-interaction orders and projection ranks of the grid.
ORDERS = (1, 2, 3)
RANKS = (1, 2, 4)
#: Whether each task's model is causal (its head reads the last step, not the mean).
CAUSAL = {"seq-digits": False, "pseq-digits": False, "copy": True}
SOURCE = "rises with order and rank"
COLUMNS = ["task", "order", "rank R", "parameters", "test accuracy", "source", "seconds"]


@dataclass(frozen=True)
class _Recipe:
    """The sizes and training recipe shared by every cell of a budget."""

    width: int
    depth: int
    steps: int
    batch: int
    eval_limit: int
    lr: float = 3e-3


def _recipe(budget: Budget) -> _Recipe:
    return budget.pick(_Recipe(width=8, depth=1, steps=2, batch=8, eval_limit=16),
                       _Recipe(width=32, depth=2, steps=120, batch=32, eval_limit=512),
                       _Recipe(width=64, depth=2, steps=2000, batch=64, eval_limit=4096))


def _tasks(budget: Budget) -> tuple[str, ...]:
    return ("seq-digits", "copy") if budget.quick else ("seq-digits", "pseq-digits", "copy")


def _cell(task: str, data: TaskData, order: int, rank: int, recipe: _Recipe, budget: Budget,
          folder: Path) -> list[object]:
    """Train one cell; its row of the table (accuracy ``"diverged"`` for a non-finite loss).
    ``data`` gives the model's sizes (the trainer loads the task itself)."""
    began = time.perf_counter()
    model = higher_order_model(TASKS[task].kind, order=order, rank=rank,
                               kernel=int(data.train_x.shape[1]), width=recipe.width,
                               depth=recipe.depth, classes=data.classes,
                               in_features=data.in_features, vocab=data.vocab,
                               seed=budget.seed, causal=CAUSAL[task])
    derived = model.blocks[0].mixer.self_interaction_order
    parameters = sum(p.numel() for p in model.parameters())
    config = TrainConfig(task=task, mixer=model.config["mixer"], width=recipe.width,
                         depth=recipe.depth, causal=CAUSAL[task], steps=recipe.steps,
                         batch=recipe.batch, lr=recipe.lr, warmup=min(10, recipe.steps),
                         eval_every=recipe.steps, checkpoint_every=recipe.steps,
                         log_every=recipe.steps, eval_limit=recipe.eval_limit,
                         seed=budget.seed, device=budget.device)
    try:
        accuracy: object = train(config, folder, model=model).final["eval_accuracy"]
    except NonFiniteLossError:
        accuracy = "diverged"
    return [task, derived, rank, parameters, accuracy, SOURCE,
            round(time.perf_counter() - began, 2)]


def _means(rows: list[list[object]], column: int, keys: tuple[int, ...]) -> list[float]:
    """The mean accuracy of the cells with each value of ``column`` (NaN if none finished)."""
    out = []
    for key in keys:
        values = [r[4] for r in rows if r[column] == key and isinstance(r[4], float)]
        out.append(sum(values) / len(values) if values else math.nan)
    return out


def _direction(name: str, keys: tuple[int, ...], means: list[float]) -> str:
    listed = ", ".join(f"{k}: {m:.3f}" for k, m in zip(keys, means, strict=True))
    verdict = "rises, as the source reports" if _rises(means) else \
        "does not rise throughout, unlike the source's report"
    return f"mean accuracy by {name} ({listed}): {verdict}"


def _rises(values: list[float]) -> bool:
    return all(b > a for a, b in itertools.pairwise(values))


def _lines(grid: list[list[float]]) -> str:
    """How many lines of the grid (``grid[order][rank]``) rise along each direction."""
    by_order = sum(_rises([grid[i][j] for i in range(len(ORDERS))]) for j in range(len(RANKS)))
    by_rank = sum(_rises(grid[i]) for i in range(len(ORDERS)))
    return (f"accuracy rises with the order at {by_order} of {len(RANKS)} ranks and with the "
            f"rank at {by_rank} of {len(ORDERS)} orders")


def _grid(rows: list[list[object]]) -> list[list[float]]:
    """``grid[order][rank]``: the accuracy of each cell (NaN where a run diverged)."""
    grid = [[math.nan] * len(RANKS) for _ in ORDERS]
    for r in rows:
        if isinstance(r[4], float):
            grid[ORDERS.index(r[1])][RANKS.index(r[2])] = r[4]
    return grid


def _plot(task: str, rows: list[list[object]], path: Path) -> None:
    figure = new_figure(10, 4)
    lines, heat = figure.subplots(1, 2)
    grid = _grid(rows)
    for j, rank in enumerate(RANKS):
        lines.plot(ORDERS, [grid[i][j] for i in range(len(ORDERS))], marker="o",
                   label=f"R = {rank}")
    lines.set(xlabel="self-interaction order", ylabel="test accuracy", xticks=ORDERS,
              title=f"{task}: accuracy against order")
    lines.grid(alpha=0.3)
    lines.legend()
    image = heat.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
    heat.set(xticks=range(len(RANKS)), xticklabels=[str(r) for r in RANKS],
             yticks=range(len(ORDERS)), yticklabels=[str(k) for k in ORDERS],
             xlabel="projection rank R", ylabel="order", title=f"{task}: test accuracy")
    for i in range(len(ORDERS)):
        for j in range(len(RANKS)):
            if not math.isnan(grid[i][j]):
                light = image.norm(grid[i][j]) > 0.6  # dark text on the light cells
                heat.text(j, i, f"{grid[i][j]:.2f}", ha="center", va="center",
                          color="k" if light else "w")
    figure.colorbar(image, ax=heat)
    write_png(figure, path)


def _section(task: str, budget: Budget, out: Path) -> Section:
    recipe = _recipe(budget)
    runs = out / "runs" / EXPERIMENT_NAME
    data = TASKS[task].load(budget.seed, None)
    rows = [_cell(task, data, order, rank, recipe, budget,
                  runs / f"{task}-order{order}-rank{rank}")
            for order in ORDERS for rank in RANKS]
    plot = f"{EXPERIMENT_NAME}-{task}.png"
    _plot(task, rows, out / plot)
    diverged = [f"order {r[1]}, rank {r[2]}" for r in rows if not isinstance(r[4], float)]
    notes = [_direction("order", ORDERS, _means(rows, 1, ORDERS)),
             _direction("rank", RANKS, _means(rows, 2, RANKS)), _lines(_grid(rows))]
    if diverged:
        notes.append(f"diverged (non-finite loss): {'; '.join(diverged)}")
    intro = (f"Test accuracy on {task} of one model per cell (width {recipe.width}, depth "
             f"{recipe.depth}, {recipe.steps} steps of batch {recipe.batch}, seed "
             f"{budget.seed}), whose blocks mix with the order-k product interaction "
             "y = W_o((P_1 x + b_1) ⊙ … ⊙ (P_k x + b_k)). The projection P_i x[t] = "
             "Σ_ℓ x[t-ℓ] B_i K_i[ℓ] A_i maps the width down to R channels (B_i), convolves "
             "them causally along the whole sequence (K_i[ℓ]: R → R) and maps them back "
             "(A_i): at every lag its channel map has rank at most R, the projection rank. "
             "The order is the one derived from the layer's expression.")
    return Section(f"Order and projection rank on {task}", intro, COLUMNS, rows,
                   passed=not diverged, notes=notes, plots=[plot],
                   command=command(EXPERIMENT_NAME, budget))


def run(budget: Budget, out: Path) -> list[Section]:
    """One section per task (module doc): the 3 × 3 grid of orders and ranks trained, its
    plot written into ``out`` and the runs into ``out/runs/order-rank``.

    Raises:
        TypeError: ``budget`` is not a :class:`Budget`, ``out`` not a ``pathlib.Path``.
        ValueError: ``out`` cannot be written (checked before any training).
    """
    check_instance(budget, "budget", Budget)
    tasks = _tasks(budget)
    out = check_output_folder(out, "out", [f"{EXPERIMENT_NAME}-{task}.png" for task in tasks])
    return [_section(task, budget, out) for task in tasks]


EXPERIMENT = Experiment(EXPERIMENT_NAME, "Accuracy rises with the self-interaction order and "
                        "the projection rank (sequential digits, copy task)", run,
                        quick_minutes=1.0, full_minutes=40.0)
