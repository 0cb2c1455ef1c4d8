"""Analyses end to end: split a table, train with restarts, diagnose; also for an algebra.

:func:`analyze_table` is what the command line runs; :func:`analyze_algebra` applies it to a
:class:`prodint.Algebra`'s structure constants ``Γ[a, b, c]`` (``e_a e_b = Σ_c Γ[a,b,c] e_c``):
when every ``Γ[a, b, :]`` is a basis vector (a group algebra, say) the algebra is the operation
table ``a∘b = argmax_c Γ[a, b, c]``; otherwise (a learned algebra, say) HyperCube fits the real
tensor ``Γ`` itself, and the verdict is ``False`` with ``operation_table`` as its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from prodint.algebra.core import Algebra
from prodint.checks import check_callable, check_device, check_float, check_instance, check_seed
from prodint.hypercube.arguments import check_factors_memory
from prodint.hypercube.diagnostics import Diagnostics, diagnose
from prodint.hypercube.model import one_hot_target
from prodint.hypercube.tables import check_table, split_cells
from prodint.hypercube.train import Progress, Recipe, TrainResult, train


@dataclass
class Analysis:
    """A table, its training split, the training result and the diagnostics of the best run."""

    table: Tensor
    mask: Tensor
    result: TrainResult
    diagnostics: Diagnostics


def _check_options(n: int, argument: str, train_fraction: object, seed: object,
                   recipe: object, progress: object, device: object) -> Recipe:
    """Every option of an analysis checked before any work, and its size; the recipe."""
    check_float(train_fraction, "train_fraction", minimum=0, strict_minimum=True, maximum=1)
    check_seed(seed)
    checked = check_instance(recipe, "recipe", Recipe, optional=True) or Recipe()
    check_callable(progress, "progress", optional=True)
    check_device(device, optional=False)
    check_factors_memory(n, torch.empty(0, dtype=checked.dtype).element_size(), argument)
    return checked


def _analyze(target: Tensor, table: Tensor, *, train_fraction: float, seed: int,
             recipe: Recipe | None, progress: Progress | None, operation_table: bool,
             device: str | torch.device) -> Analysis:
    n = int(table.shape[0])
    mask = split_cells(n, train_fraction, seed)
    result = train(target, mask, seed=seed, recipe=recipe, progress=progress, device=device)
    best = result.best
    diagnostics = diagnose(best.factors, table, mask, converged=best.converged,
                           train_loss=best.train_loss, operation_table=operation_table)
    return Analysis(table, mask, result, diagnostics)


def analyze_table(table: object, *, train_fraction: float = 1.0, seed: int = 0,
                  recipe: Recipe | None = None, progress: Progress | None = None,
                  device: str | torch.device = "cpu") -> Analysis:
    """Train on a random ``train_fraction`` of the cells of ``table`` and diagnose.

    Args:
        table: ``[n, n]`` symbols (tensor or list of rows), checked by
            :func:`~prodint.hypercube.tables.check_table`.
        train_fraction: share of the ``n²`` cells observed in training (the rest is held out),
            in ``(0, 1]``.
        seed: seeds the split and the initializations (an int in ``[0, 2**64 - 1]``).
        recipe, progress, device: as in :func:`~prodint.hypercube.train.train`.

    Raises:
        TypeError, ValueError: a malformed table or option (named in the message), or a
            table too large for the memory budget; checked before any work.
    """
    t = check_table(table)
    recipe = _check_options(int(t.shape[0]), "table", train_fraction, seed, recipe, progress,
                            device)
    return _analyze(one_hot_target(t), t, train_fraction=train_fraction, seed=seed,
                    recipe=recipe, progress=progress, operation_table=True, device=device)


def algebra_table(gamma: Tensor, atol: float = 1e-6) -> Tensor | None:
    """The table ``a∘b = c`` when every ``Γ[a, b, :]`` is a basis vector, else ``None``."""
    symbol = gamma.argmax(-1)
    one_hot = torch.nn.functional.one_hot(symbol, gamma.shape[-1]).to(gamma.dtype)
    return symbol if bool(torch.allclose(gamma, one_hot, rtol=0, atol=atol)) else None


def analyze_algebra(algebra: Algebra, *, train_fraction: float = 1.0, seed: int = 0,
                    recipe: Recipe | None = None, progress: Progress | None = None,
                    device: str | torch.device = "cpu") -> Analysis:
    """HyperCube on the structure constants of ``algebra`` (see the module docstring).

    The options are those of :func:`analyze_table`.

    Raises:
        TypeError: ``algebra`` is not a :class:`prodint.Algebra`; an option of the wrong
            kind.
        ValueError: structure constants that are not finite; an option out of range.
    """
    check_instance(algebra, "algebra", Algebra, name="prodint.Algebra")
    gamma = algebra.structure_constants.detach()
    recipe = _check_options(int(gamma.shape[0]), "algebra", train_fraction, seed, recipe,
                            progress, device)
    gamma = gamma.to("cpu", torch.float32)
    if not bool(torch.isfinite(gamma).all()):
        raise ValueError("algebra: expected finite structure constants, received NaN or inf "
                         "(or values beyond float32)")
    table = algebra_table(gamma)
    if table is not None:
        return analyze_table(table, train_fraction=train_fraction, seed=seed, recipe=recipe,
                             progress=progress, device=device)
    return _analyze(gamma, gamma.argmax(-1), train_fraction=train_fraction, seed=seed,
                    recipe=recipe, progress=progress, operation_table=False, device=device)
