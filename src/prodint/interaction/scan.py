"""The linear recurrence ``h_t = a_t ⊙ h_{t-1} + b_t``: an inverse in the causal algebra.

Along a time axis of length ``T``, sequences are elements of the truncated polynomial algebra
``R[z]/(z^T)`` (``z`` delays by one step, products are causal convolutions). A linear
recurrence with elementwise ``a`` is the solve

    (1 - a z) h = b   ⟺   h = (1 - a z)^{-1} b = Σ_{k ≥ 0} (a z)^k b,

which terminates since ``z^T = 0``. Written out, ``h_t = Σ_{s ≤ t} (Π_{s<r≤t} a_r) b_s``.
Mamba's selective scan is this node with ``a = exp(Δ ⊗ A)`` and ``b = (Δ ⊙ x) ⊗ B``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.interaction.axes import Axis, find_axis, merge_sizes
from prodint.interaction.expr import Expr, Kernel, check_expr, make_aligner


def linear_recurrence(a: Tensor, b: Tensor, *, dim: int = 1) -> Tensor:
    """Every state of ``h_t = a_t ⊙ h_{t-1} + b_t``, ``h_{-1} = 0``, along dimension ``dim``.

    ``a`` broadcasts against ``b``; the value has ``b``'s broadcast shape. Differentiable by
    autograd; each step is one fused multiply-add on a time-major slice. The slices come from
    ``unbind`` (one backward node for all of them, not one full-size gradient per indexed
    step), and a decay without the time axis is one slice reused at every step.
    """
    shape = torch.broadcast_shapes(a.shape, b.shape)
    a = a.reshape((1,) * (len(shape) - a.dim()) + tuple(a.shape))
    b = b.expand(shape)
    dim = dim % len(shape)
    steps = b.movedim(dim, 0).unbind(0)
    if not steps:
        return b.clone()
    rest = shape[:dim] + shape[dim + 1:]
    if a.shape[dim] == 1:
        decay = [a.squeeze(dim).expand(rest)] * len(steps)
    else:
        decay = list(a.expand(shape).movedim(dim, 0).unbind(0))
    h = torch.zeros_like(steps[0])
    states = []
    for a_t, b_t in zip(decay, steps, strict=True):
        h = torch.addcmul(b_t, a_t, h)
        states.append(h)
    return torch.stack(states, dim=dim)


class LinearRecurrence(Expr):
    """All states of ``h_t = a_t ⊙ h_{t-1} + b_t``, ``h_{-1} = 0``, along axis ``time``.

    Args:
        a: the decay; its axes are among those of ``b`` (it broadcasts elementwise). Without
            the time axis it is the same at every step (e.g. a parameter).
        b: the drive, an expression with axis ``time``.
        time: the name of the time axis.

    Value: ``[*batch, *axes of b]``, ``value[..., t, ...] = h_t``.

    Self-interaction order: two numbers, as for
    :class:`~prodint.interaction.recurrence.Recurrence`. ``h_t = Σ_{s≤t} (Π_{s<r≤t} a_r) b_s``
    has terms of order ``ord(b) + k·ord(a)``, ``k = t - s = 0, …, t``.

    - *Per step* (:attr:`step_order`, the number :attr:`self_interaction_order` returns):
      one update ``a ⊙ h + b`` with the previous state counted as much as what it carries,
      the drive: ``ord(a) + ord(b)`` (``ord(b)`` for a parameter ``a``).
    - *Along the sequence* (:meth:`state_orders`, :meth:`order_at`): ``ord(h_t) =
      ord(b) + t·ord(a)``, exactly. With a parameter ``a`` it stays ``ord(b)``; with a decay
      that depends on the signal (Mamba's ``exp(Δ_t A)``) it grows by ``ord(a)`` a step and
      is unbounded in ``T``.

    Evaluation: :meth:`reference` loops over time with the plain update; :meth:`kernel` aligns
    ``a`` to ``b`` once and runs :func:`linear_recurrence` (one fused multiply-add per step).
    Mamba's zoo block computes the same recurrence with the dedicated selective-scan
    operators of :mod:`prodint.ops.selective_scan` (that floor sits above this one).
    """

    def __init__(self, a: Expr, b: Expr, *, time: str = "t"):
        check_expr(a, "a")
        check_expr(b, "b")
        find_axis(b.axes, time, argument="time", owner="b")
        names = b.axis_names
        extra = [n for n in a.axis_names if n not in names]
        if extra:
            raise ValueError(f"a: expected axes among those of b {list(names)} (a acts "
                             f"elementwise), received {list(a.axis_names)}")
        axes = list(b.axes)
        for ax in a.axes:
            i = names.index(ax.name)
            axes[i] = merge_sizes(axes[i], ax, argument="a")
        self.children = (a, b)
        self.time = time
        self.axes = tuple(Axis(ax.name, ax.size) for ax in axes)

    @property
    def decay(self) -> Expr:
        return self.children[0]

    @property
    def drive(self) -> Expr:
        return self.children[1]

    @property
    def step_order(self) -> int:
        """``ord(a) + ord(b)``: one update with the state counted as its drive (class doc)."""
        return sum(c.self_interaction_order for c in self.children)

    @property
    def self_interaction_order(self) -> int:
        """The per-step order :attr:`step_order`; along a sequence see :meth:`state_orders`."""
        return self.step_order

    def state_orders(self, length: int) -> list[int]:
        """``[ord(h_0), …, ord(h_{length-1})]`` with ``ord(h_t) = ord(b) + t·ord(a)``."""
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise ValueError(f"length: expected a positive int, received {length!r}")
        a, b = (c.self_interaction_order for c in self.children)
        return [b + t * a for t in range(length)]

    def order_at(self, length: int) -> int:
        """The order of the value on ``length`` steps: ``ord(b) + (length - 1)·ord(a)``."""
        return self.state_orders(length)[-1]

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return LinearRecurrence(children[0], children[1], time=self.time)

    def __str__(self) -> str:
        return f"(1 - {self.decay} z_{self.time})⁻¹ {self.drive}"

    def _time_dim(self) -> int:
        return self.axis_names.index(self.time) - len(self.axes)

    def reference(self, a: Tensor, b: Tensor) -> Tensor:
        a = make_aligner(self.decay.axes, self.axis_names, batched=self.decay.has_batch)(a)
        a, b = torch.broadcast_tensors(a, b)
        d = self._time_dim()
        h = torch.zeros_like(b.select(d, 0)) if b.shape[d] else None
        states = []
        for t in range(b.shape[d]):
            h = a.select(d, t) * h + b.select(d, t)
            states.append(h)
        return torch.stack(states, dim=d) if states else b.clone()

    def kernel(self) -> Kernel:
        align_a = make_aligner(self.decay.axes, self.axis_names, batched=self.decay.has_batch)
        d = self._time_dim()

        def recurrence(a: Tensor, b: Tensor) -> Tensor:
            return linear_recurrence(align_a(a), b, dim=d)

        return recurrence
