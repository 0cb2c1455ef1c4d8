"""The zoo table: every family's three executions checked against its counterpart, and timed.

For each pair of :data:`prodint.bench.zoo_pairs.PAIRS` (a zoo layer and its counterpart
outside prodint, on the same weights) :func:`survey` runs, in float64, the layer's
``forward`` (the fast path), ``general`` (its compiled expression) and ``reference`` (the
node-by-node evaluation) on the counterpart's inputs, and records the largest difference of
each to the counterpart over every output tensor (final states included). An execution that
raises is reported as failed with its error, not replaced by another one. The forward-time
ratio (prodint / counterpart, medians, float32) completes the row; ``prodint zoo`` prints the
table (:func:`section`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from prodint.bench.checks import MAX_SECONDS
from prodint.bench.harness import interleaved_ms
from prodint.bench.zoo_pairs import PAIRS, Pair
from prodint.checks import check_float
from prodint.report import Section
from prodint.surveys.fields import check_fields

__all__ = ["EXECUTIONS", "FamilyRow", "section", "survey", "survey_family"]

#: The layer's executions the survey checks, in column order.
EXECUTIONS = ("forward", "general", "reference")
TOLERANCE = 1e-10


@dataclass(frozen=True)
class FamilyRow:
    """One family.

    Attributes:
        name: the family; ``counterpart``: what it is checked against.
        order: the self-interaction order of the layer's expression.
        errors: per execution (:data:`EXECUTIONS`), the largest absolute difference to the
            counterpart in float64; ``nan`` where it failed.
        failures: ``"execution: error"`` for every call that raised.
        time_ratio: forward time over the counterpart's (float32); ``None`` when either
            failed (the report shows ``-``).
        expression: the printed expression.
    """

    name: str
    counterpart: str
    order: int
    errors: dict[str, float]
    failures: tuple[str, ...]
    time_ratio: float | None
    expression: str

    def __post_init__(self) -> None:
        """Raises ``TypeError``/``ValueError`` for a field of the wrong kind (``errors`` must
        be a dict of numbers, ``failures`` a tuple of str)."""
        check_fields(self, texts=("name", "counterpart", "expression"), counts=("order",),
                     numbers=() if self.time_ratio is None else ("time_ratio",))
        if not isinstance(self.errors, dict) or not all(
                isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
                for k, v in self.errors.items()):
            raise TypeError(f"errors: expected a dict of execution -> number, received "
                            f"{type(self.errors).__name__} {self.errors!r:.60}")
        if not isinstance(self.failures, tuple) or \
                not all(isinstance(f, str) for f in self.failures):
            raise TypeError(f"failures: expected a tuple of str, received "
                            f"{type(self.failures).__name__} {self.failures!r:.60}")

    @property
    def max_error(self) -> float:
        """The largest error over the executions (``inf`` if any failed)."""
        return max(math.inf if math.isnan(e) else e for e in self.errors.values())

    @property
    def passed(self) -> bool:
        """Every execution ran and matched the counterpart to float64 rounding (1e-10)."""
        return not self.failures and self.max_error <= TOLERANCE


def _tensors(value: Any) -> list[Tensor]:
    """The tensors of a result: a tensor, or nested tuples of tensors (``None`` skipped)."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def _difference(actual: Any, expected: Any) -> float:
    ours, theirs = _tensors(actual), _tensors(expected)
    if len(ours) != len(theirs) or any(a.shape != e.shape for a, e in zip(ours, theirs,
                                                                          strict=True)):
        raise ValueError(f"output: expected tensors of shapes "
                         f"{[tuple(t.shape) for t in theirs]}, received "
                         f"{[tuple(t.shape) for t in ours]}")
    return max(float((a - e).abs().max()) for a, e in zip(ours, theirs, strict=True))


def _failure(execution: str, exc: Exception) -> str:
    return f"{execution}: {type(exc).__name__}: {exc}"


def _check_pair(pair: object, argument: str) -> Pair:
    if not isinstance(pair, Pair):
        raise TypeError(f"{argument}: expected a Pair (prodint.bench.zoo_pairs), received "
                        f"{type(pair).__name__} {pair!r:.60}")
    return pair


def _check_min_seconds(min_seconds: object) -> float:
    return check_float(min_seconds, "min_seconds", minimum=0.0, maximum=MAX_SECONDS)


def survey_family(pair: Pair, *, min_seconds: float = 0.05) -> FamilyRow:
    """Errors of the three executions (float64) and the forward time ratio (float32);
    ``min_seconds``: the least time of each timed block.

    Raises:
        TypeError: ``pair`` is not a :class:`~prodint.bench.zoo_pairs.Pair`, ``min_seconds``
            not a number.
        ValueError: ``min_seconds`` negative, above an hour or not finite.
    """
    _check_pair(pair, "pair")
    _check_min_seconds(min_seconds)
    built = pair.make(torch.float64)
    layer, inputs, options = built.layer, built.inputs, built.options
    errors = dict.fromkeys(EXECUTIONS, math.nan)
    failures = []
    with torch.no_grad():
        try:
            expected = built.counterpart(*inputs, **options)
        except Exception as exc:
            failures.append(_failure("counterpart", exc))
        else:
            for execution in EXECUTIONS:
                run = layer if execution == "forward" else getattr(layer, execution, None)
                try:
                    if run is None:
                        raise AttributeError(f"{type(layer).__name__} has no {execution}()")
                    errors[execution] = _difference(run(*inputs, **options), expected)
                except Exception as exc:
                    failures.append(_failure(execution, exc))
    ratio = None
    if not math.isnan(errors["forward"]):
        fast = pair.make(torch.float32)
        with torch.no_grad():
            ours, theirs = interleaved_ms(
                [lambda: fast.layer(*fast.inputs, **fast.options),
                 lambda: fast.counterpart(*fast.inputs, **fast.options)],
                rounds=2, min_seconds=min_seconds)
        ratio = ours / theirs
    expression = layer.expression
    return FamilyRow(pair.name, pair.counterpart_name, expression.self_interaction_order,
                     errors, tuple(failures), ratio, str(expression))


def survey(pairs: tuple[Pair, ...] = PAIRS, *, min_seconds: float = 0.05,
           progress: Callable[[str], None] | None = None) -> list[FamilyRow]:
    """One row per pair (default: every pair of :data:`PAIRS`; see the module doc);
    ``progress(name)`` is called before each.

    Raises:
        TypeError: ``pairs`` is not a tuple (or list) of :class:`~prodint.bench.zoo_pairs.Pair`,
            ``progress`` not ``None`` or a callable; as :func:`survey_family`.
        ValueError: as :func:`survey_family`.
    """
    if not isinstance(pairs, tuple | list):
        raise TypeError(f"pairs: expected a tuple of Pair, received {type(pairs).__name__} "
                        f"{pairs!r:.60}")
    for pair in pairs:
        _check_pair(pair, "pairs")
    _check_min_seconds(min_seconds)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress: expected a callable or None, received "
                        f"{type(progress).__name__} {progress!r:.60}")
    rows = []
    for pair in pairs:
        if progress is not None:
            progress(pair.name)
        rows.append(survey_family(pair, min_seconds=min_seconds))
    return rows


def section(pairs: tuple[Pair, ...] = PAIRS, *, min_seconds: float = 0.05,
            progress: Callable[[str], None] | None = None) -> Section:
    """The survey (:func:`survey`, same arguments) as a report table; it passes when every row
    does (:attr:`FamilyRow.passed`). Failed executions are listed under the table.

    Raises:
        TypeError, ValueError: as :func:`survey`.
    """
    rows = survey(pairs, min_seconds=min_seconds, progress=progress)
    table = []
    for r in rows:
        expression = r.expression if len(r.expression) <= 90 else r.expression[:87] + "..."
        cells = ["failed" if math.isnan(r.errors[e]) else r.errors[e] for e in EXECUTIONS]
        ratio = "-" if r.time_ratio is None else round(r.time_ratio, 3)
        table.append([r.name, r.counterpart, r.order, *cells, ratio, expression])
    return Section(
        "The zoo: classical layers, exact against torch",
        "Each family as a product interaction with its order; each error is the largest "
        "difference to the counterpart (float64, every output and final state) of the "
        "layer's forward (fast path), general (compiled expression) and reference "
        "(node-by-node evaluation); time is the forward-time ratio to the counterpart "
        "(float32).",
        ["family", "counterpart", "order", *(f"{e} error" for e in EXECUTIONS), "time ratio",
         "expression"],
        table,
        passed=all(r.passed for r in rows),
        notes=[f"{r.name}: {f}" for r in rows for f in r.failures],
    )
