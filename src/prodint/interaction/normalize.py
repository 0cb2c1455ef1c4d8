"""Normalisation by a data-dependent denominator: the guarded ratio.

Operators such as normalised tensor attention divide a sum by the same sum with the values
replaced by ones (``o_t = Σ w v / Σ w``), tensor interaction divides by ``‖M_t‖_F²``. Such a
denominator can be zero, and tensor attention's can be negative (its terms are products of
dot products of either sign), so the ratio is *guarded*:

- ``"signed"``: ``g(n) = sign(n)·max(|n|, eps)`` with ``sign(0) = +1``. The sign is kept and
  ``|u / g(n)| ≤ |u| / eps``; tensor attention's normaliser uses it
  (:mod:`prodint.ops.tensor_attention.common`).
- ``"floor"``: ``g(n) = max(n, eps)``, for denominators that are non-negative by
  construction (a squared norm: tensor interaction, :mod:`prodint.ops.tensor_interaction`).

Order. Like every normalisation (a pointwise function keeps the order of its argument: the
rules of :mod:`prodint.interaction.expr`), :class:`GuardedRatio` has the order of its
numerator: ``u / g(n)`` is ``u`` rescaled at every position by a factor that depends on the
signal, a normalisation rather than one more product factor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from prodint.checks import check_choice, check_float
from prodint.interaction.axes import merge_sizes
from prodint.interaction.expr import Expr, Kernel, align, check_expr, make_aligner


def signed_guard(den: Tensor, eps: float) -> Tensor:
    """``sign(den)·max(|den|, eps)`` with ``sign(0) = +1``: keeps the sign, bounds the ratio."""
    sign = torch.where(den < 0, -1.0, 1.0).to(den.dtype)
    return sign * den.abs().clamp_min(eps)


def floor_guard(den: Tensor, eps: float) -> Tensor:
    """``max(den, eps)``: the guard of a denominator that is non-negative by construction."""
    return den.clamp_min(eps)


GUARDS: dict[str, Callable[[Tensor, float], Tensor]] = {
    "signed": signed_guard,
    "floor": floor_guard,
}


class GuardedRatio(Expr):
    """``u / g(n)``: the numerator ``u`` divided by the guarded denominator ``g(n)``.

    Args:
        numerator: ``u``; the value has its axes.
        denominator: ``n``, whose axes are among the numerator's (it broadcasts, e.g. one
            normaliser per position for every value channel).
        eps: the guard's floor, positive.
        guard: ``"signed"`` or ``"floor"`` (module doc).

    Order ``ord(u)`` (module doc).

    Raises:
        TypeError: an operand that is not an expression, an ``eps`` that is not a number.
        ValueError: an unknown guard, an ``eps`` that is not positive and finite, a
            denominator with axes the numerator lacks or of other sizes.
    """

    def __init__(self, numerator: Expr, denominator: Expr, *, eps: float = 1e-6,
                 guard: str = "signed"):
        check_expr(numerator, "numerator")
        check_expr(denominator, "denominator")
        check_choice(guard, "guard", sorted(GUARDS))
        eps = check_float(eps, "eps", minimum=0, strict_minimum=True)
        names = numerator.axis_names
        extra = [n for n in denominator.axis_names if n not in names]
        if extra:
            raise ValueError(f"denominator: expected axes among the numerator's {list(names)}, "
                             f"received {list(denominator.axis_names)}")
        for ax in denominator.axes:
            merge_sizes(numerator.axes[names.index(ax.name)], ax, argument="denominator")
        self.children = (numerator, denominator)
        self.eps, self.guard = float(eps), guard
        self.axes = numerator.axes

    @property
    def self_interaction_order(self) -> int:
        return self.children[0].self_interaction_order

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return GuardedRatio(children[0], children[1], eps=self.eps, guard=self.guard)

    def __str__(self) -> str:
        num, den = self.children
        return f"({num} / {self.guard}_guard({den}))"

    def reference(self, u: Tensor, n: Tensor) -> Tensor:
        den = align(n, self.children[1].axes, self.axis_names)
        return u / GUARDS[self.guard](den, self.eps)

    def kernel(self) -> Kernel:
        den = self.children[1]
        aligner = make_aligner(den.axes, self.axis_names, batched=den.has_batch)
        guard, eps = GUARDS[self.guard], self.eps

        def ratio(u: Tensor, n: Tensor) -> Tensor:
            return u / guard(aligner(n), eps)

        return ratio
