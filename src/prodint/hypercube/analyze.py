"""Analyses end to end: split a table, train with restarts, diagnose; also for an algebra.

:func:`analyze_table` is what the command line runs. :func:`analyze_algebra` answers the same
question for a :class:`prodint.Algebra` or a :class:`prodint.algebra.LearnedAlgebra` with
structure constants ``Γ[a, b, c]`` (``e_a e_b = Σ_c Γ[a,b,c] e_c``): is it, in some basis, the
algebra of a group isotope's table? HyperCube answers for 0/1 tables only (its ``H``
criterion compares against the group minimum ``3n²`` in a table's own basis; fitting a real
``Γ`` proves nothing, since the model ``tr(A_a B_b C_c)/n`` with ``n × n`` matrices represents
any ``[n, n, n]`` tensor), so the algebra is first reduced to a table
(:mod:`prodint.hypercube.reduce`, where the mathematics is):

1. ``Γ`` with one nonzero entry per ``(a, b)`` and consistent scalings is a 0/1 table in the
   rescaled basis ``f_a = s_a e_a``. When that table is a group (an associative Latin
   square), HyperCube analyses it and its verdict is the answer.
2. Otherwise :func:`~prodint.hypercube.reduce.group_basis` looks for a group basis: for a
   commutative algebra through its characters (``R[C_3]`` in any basis, or ``R × R`` given in
   its semilattice basis), and HyperCube analyses the group's table in that basis; or it
   proves there is none (not associative, no unit, not semisimple, the wrong count of real
   characters, non-commutative where every group of order ``n`` is abelian).
3. With no group basis found, the table of step 1 (one that is no group), if there is one, is
   analysed, and HyperCube's ``True`` stands (``x − y mod p``: a group isotope, not a group).
   Its ``False`` stands when step 2 proved that the algebra is no group algebra: for an
   associative algebra no basis at all is then the table of a group isotope (a Latin table
   would be a group); for a non-associative one (``latin5``) it is the verdict on the
   multiplicative basis found, and other multiplicative bases are not searched for. When
   step 2 is undecided, the verdict is ``None``.
4. With no table at all, a proof of step 2 gives ``False`` for an associative algebra; the
   verdict is otherwise ``None``, "not applicable", with the reason: a non-commutative
   algebra that passes every test (``R[S_3]`` in another basis) may be a group algebra; a
   non-associative one (a :class:`~prodint.algebra.LearnedAlgebra` at initialization,
   generically) is no group algebra, but another basis could make it the table of a group
   isotope that is not a group.

So a group algebra in another basis never gets a confident ``False``: it gets ``True`` (a group
basis found) or ``None``.

Certifying a completion. Trained on part of a table, the factors fit the observed cells
exactly but the held-out ones only as far as their argmax: the recovered representation is
then approximate (seed 0: ``Z_7`` at fraction 0.6, ``Z_11`` at 0.5 and ``S_3`` at 0.6 predict
every cell, ``H/3n²`` within 1e-4 of 1, but ``ρ`` multiplies like the table only to 0.011-0.030,
above :data:`~prodint.hypercube.diagnostics.HOM_TOL`). When that is the only criterion that
fails, the table the factors predict on every cell (their *completion*; it equals the table,
since every cell is predicted right) is fitted again with every cell observed, and that fit's
diagnosis is the answer: the completion is a group isotope exactly when its full fit reaches
a unitary representation. No held-out label enters the refit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from prodint.algebra.core import Algebra
from prodint.algebra.learned import LearnedAlgebra
from prodint.checks import check_callable, check_device, check_float, check_instance, check_seed
from prodint.hypercube.arguments import check_factors_memory
from prodint.hypercube.diagnostics import Diagnostics, diagnose
from prodint.hypercube.model import Factors, one_hot_target, predict
from prodint.hypercube.recipe import Recipe
from prodint.hypercube.reduce import (
    RESCALED,
    TABLE,
    Reduction,
    group_basis,
    rescaled_table,
    tolerance,
)
from prodint.hypercube.tables import check_table, is_group_table, split_cells
from prodint.hypercube.train import Progress, TrainResult, train


@dataclass
class Analysis:
    """The answer, why, and the table analysis behind it.

    Attributes:
        verdict: ``True``/``False`` whether the input is a group isotope's table (an algebra:
            in some basis, see the module docstring), or ``None`` when that is not decided.
        reason: one sentence on how the verdict was reached.
        table, mask, result, diagnostics: the ``[n, n]`` table HyperCube analysed, its
            ``[n, n]`` bool training cells, the training result on them and the diagnostics
            the verdict rests on (of ``refit`` when there is one); ``None`` when no table was
            analysed.
        reduction: for an algebra, the basis in which ``Γ`` is ``table``
            (:class:`~prodint.hypercube.reduce.Reduction`), else ``None``.
        refit: the fit of the completion on every cell, when the completion was certified
            (module doc), else ``None``.
    """

    verdict: bool | None
    reason: str
    table: Tensor | None = None
    mask: Tensor | None = None
    result: TrainResult | None = None
    diagnostics: Diagnostics | None = None
    reduction: Reduction | None = None
    refit: TrainResult | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready: the verdict, the reason, the reduction's method and residual, and the
        diagnostics' summary (``None`` for what is absent)."""
        red = self.reduction
        return {"verdict": self.verdict, "reason": self.reason,
                "reduction": None if red is None else {"method": red.method,
                                                       "residual": red.residual},
                "diagnostics": None if self.diagnostics is None else self.diagnostics.summary()}


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


def _table_reason(d: Diagnostics) -> str:
    if d.is_group_isotope:
        return "HyperCube: the table is a group isotope (every criterion holds)"
    failed = ", ".join(k for k, e in d.evidence.items() if not e.passed)
    return f"HyperCube: the table is not a group isotope (failing: {failed})"


def completion(factors: Factors) -> Tensor:
    """The table the factors predict on every cell, ``argmax_c T[a, b, c]`` (``[n, n]``
    long, on the CPU)."""
    n = factors.n
    a, b = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    dev = factors.A.device
    with torch.no_grad():
        out = predict(factors, a.flatten().to(dev), b.flatten().to(dev)).argmax(-1)
    return out.view(n, n).cpu()


def _fit(observed: Tensor, cells: Tensor, table: Tensor, mask: Tensor,
         options: dict[str, Any]) -> tuple[TrainResult, Diagnostics]:
    """Train on the ``cells`` of ``observed`` and diagnose the best run against ``table`` and
    the split ``mask``."""
    result = train(one_hot_target(observed), cells,
                   **{k: options[k] for k in ("seed", "recipe", "progress", "device")})
    best = result.best
    return result, diagnose(best.factors, table, mask, converged=best.converged,
                            train_loss=best.train_loss)


def _analyze(table: Tensor, options: dict[str, Any], prefix: str = "",
             reduction: Reduction | None = None) -> Analysis:
    """Train on the split, diagnose; when only the recovered representation falls short
    (every other criterion holds, cells were held out), certify the completion (module
    doc): fit the table the factors predict on every cell, all cells observed, and take that
    fit's diagnosis against ``table`` and the split."""
    n = int(table.shape[0])
    mask = split_cells(n, options["train_fraction"], options["seed"])
    result, d = _fit(table, mask, table, mask, options)
    failing = [k for k, e in d.evidence.items() if not e.passed]
    if failing == ["homomorphism_error"] and not bool(mask.all()):
        guess = completion(result.best.factors)
        refit, d = _fit(guess, torch.ones_like(mask), table, mask, options)
        how = "the completion predicted from the observed cells, refit on every cell: "
        return Analysis(d.is_group_isotope, prefix + how + _table_reason(d), table, mask,
                        result, d, reduction, refit)
    return Analysis(d.is_group_isotope, prefix + _table_reason(d), table, mask, result, d,
                    reduction)


def analyze_table(table: object, *, train_fraction: float = 1.0, seed: int = 0,
                  recipe: Recipe | None = None, progress: Progress | None = None,
                  device: str | torch.device = "cpu") -> Analysis:
    """Train on a random ``train_fraction`` of the cells of ``table`` and diagnose.

    The verdict is the diagnostics' ``is_group_isotope``, the reason names the criteria that
    fail.

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
    return _analyze(t, dict(train_fraction=train_fraction, seed=seed, recipe=recipe,
                            progress=progress, device=device))


_BASES = {TABLE: "Γ is a 0/1 table; ",
          RESCALED: "Γ is a 0/1 table in the rescaled basis f_a = s_a e_a; "}
_NOT_TABLE = "Γ is no 0/1 table in any permuted, rescaled basis"


def analyze_algebra(algebra: Algebra | LearnedAlgebra, *, train_fraction: float = 1.0,
                    seed: int = 0, recipe: Recipe | None = None,
                    progress: Progress | None = None,
                    device: str | torch.device = "cpu") -> Analysis:
    """Whether ``algebra`` is, in some basis, the algebra of a group isotope's table.

    The decision (reduce to a table, then HyperCube; or a proof that there is no group basis;
    or "not applicable") is that of the module docstring; the analysis holds the verdict, the
    reason, the basis found and the table analysis. The options are those of
    :func:`analyze_table` (used when a table is analysed).

    Raises:
        TypeError: ``algebra`` is not a :class:`prodint.Algebra` or
            :class:`prodint.algebra.LearnedAlgebra`; an option of the wrong kind.
        ValueError: structure constants that are not finite; an option out of range; an
            algebra too large for the memory budget.
    """
    check_instance(algebra, "algebra", (Algebra, LearnedAlgebra),
                   name="prodint.Algebra or prodint.algebra.LearnedAlgebra")
    gamma = algebra.structure_constants.detach()
    recipe = _check_options(int(gamma.shape[0]), "algebra", train_fraction, seed, recipe,
                            progress, device)
    tol = tolerance(gamma.dtype)
    gamma = gamma.to("cpu", torch.float64)
    if not bool(torch.isfinite(gamma).all()):
        raise ValueError("algebra: expected finite structure constants, received NaN or inf")
    options = dict(train_fraction=train_fraction, seed=seed, recipe=recipe, progress=progress,
                   device=device)
    rescaled = rescaled_table(gamma, tol)
    if rescaled is not None and is_group_table(rescaled.table):
        return _analyze(rescaled.table, options, _BASES[rescaled.method], rescaled)
    finding = group_basis(gamma, tol)
    if finding.reduction is not None:
        return _analyze(finding.reduction.table, options, finding.reason + "; ",
                        finding.reduction)
    if rescaled is not None:  # a table that is no group, and no group basis
        analysis = _analyze(rescaled.table, options, _BASES[rescaled.method], rescaled)
        if not analysis.verdict:
            analysis.verdict = False if finding.proven else None
            analysis.reason = f"{analysis.reason}; {finding.reason}"
        return analysis
    if not finding.associative:
        return Analysis(None, f"{_NOT_TABLE}, and {finding.reason}, so it is no group "
                        f"algebra; another basis could still make it the table of a group "
                        f"isotope that is not a group, which is not searched for")
    return Analysis(False if finding.proven else None, f"{_NOT_TABLE}; {finding.reason}")
