"""Equivariance as a testable property: ``fn(g · args) = g · fn(args)``.

For a map ``f: V_1 × … × V_k -> W`` and representations ``ρ_i`` on the inputs and ``ρ_out`` on
the output, ``f`` is equivariant when

    f(ρ_1(g) x_1, …, ρ_k(g) x_k) = ρ_out(g) f(x_1, …, x_k)        for every g ∈ G,

and invariant when ``ρ_out`` is trivial. :func:`assert_equivariant` checks this on every element
of a finite group, on random elements ``exp(Σ_i t_i A_i)`` of a Lie group, or, for actions that
are not matrices on the last dimension (rotating an image grid), on user-given elements with
user-given action callables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from prodint.checks import check_count, check_float, check_int, check_same_device
from prodint.groups import Group, Representation

__all__ = ["TOLERANCES", "Action", "assert_equivariant", "default_tolerance"]

#: Default absolute and relative tolerance per floating dtype: far above accumulated rounding
#: of moderate-depth computations, far below the errors of a genuinely broken symmetry.
TOLERANCES: dict[torch.dtype, float] = {
    torch.float64: 1e-10,
    torch.float32: 1e-4,
    torch.float16: 1e-2,
    torch.bfloat16: 5e-2,
}

#: ``action(g, tensor) -> tensor``: how the group element ``g`` acts on a tensor.
Action = Callable[[Any, Tensor], Tensor]


#: The most random Lie-group elements one call draws (each costs a call of ``fn``).
MAX_SAMPLES = 10_000


def default_tolerance(dtype: torch.dtype) -> float:
    """The default tolerance for ``dtype`` (:data:`TOLERANCES`, 1e-10 for other dtypes).

    Raises:
        TypeError: ``dtype`` is not a ``torch.dtype``.
    """
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype: expected a torch.dtype, received {type(dtype).__name__} "
                        f"{dtype!r:.60}")
    return TOLERANCES.get(dtype, 1e-10)


def check_tolerance_values(atol: object, rtol: object) -> None:
    """``atol`` and ``rtol`` are ``None`` or finite non-negative real numbers."""
    for name, value in (("atol", atol), ("rtol", rtol)):
        if value is not None:
            check_float(value, name, minimum=0)


def check_tolerances(
    atol: float | None, rtol: float | None, dtype: torch.dtype
) -> tuple[float, float]:
    """Validate ``atol`` / ``rtol`` (finite, non-negative) and fill defaults for ``dtype``."""
    check_tolerance_values(atol, rtol)
    default = default_tolerance(dtype)
    return (default if atol is None else float(atol), default if rtol is None else float(rtol))


def check_finite_input(x: Tensor, argument: str) -> Tensor:
    """``x`` if its values are finite: a property checked on NaN or inf proves nothing."""
    if x.device.type != "meta" and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{argument}: expected finite values (a property check on NaN or inf "
                         f"proves nothing), received NaN or inf")
    return x


def check_finite_output(out: Tensor, who: str, where: str) -> Tensor:
    """``out`` if finite; else the property fails: finite input gave a non-finite output."""
    if out.device.type != "meta" and not bool(torch.isfinite(out).all()):
        raise AssertionError(f"{who}: fn returned a non-finite output (NaN or inf) for finite "
                             f"input {where}")
    return out


def _max_abs(t: Tensor) -> float:
    if t.numel() == 0:
        return 0.0
    value = float(t.detach().abs().max())
    # NaN compares false with every bound; report it as an infinite error instead.
    return value if not math.isnan(value) else math.inf


def _matrix_action(matrix: Tensor) -> Action:
    """``t ↦ ρ t`` on the last dimension, ``(ρ t)_i = Σ_j ρ[i, j] t_j``."""

    def act(g: Any, t: Tensor) -> Tensor:
        del g
        return t @ matrix.to(dtype=t.dtype, device=t.device).T

    return act


def _identity_action(g: Any, t: Tensor) -> Tensor:
    del g
    return t


def _as_args(args: Any) -> tuple[Tensor, ...]:
    if isinstance(args, Tensor):
        args = (args,)
    if not isinstance(args, tuple | list):
        raise TypeError(f"args: expected a tuple of tensors, received {type(args).__name__}")
    if not args:
        raise ValueError("args: expected at least one input tensor, received an empty tuple")
    for i, a in enumerate(args):
        if not isinstance(a, Tensor):
            raise TypeError(f"args[{i}]: expected a torch.Tensor, received {type(a).__name__}")
        if not a.is_floating_point():
            raise TypeError(f"args[{i}]: expected a floating tensor, received dtype {a.dtype}")
        check_finite_input(a, f"args[{i}]")
    check_same_device(**{f"args[{i}]": a for i, a in enumerate(args)})
    return tuple(args)


def _per_arg(value: Any, n: int, argument: str, kind: type | None) -> list[Any]:
    """Broadcast one item to all ``n`` args or validate a sequence of ``n`` items."""
    single = callable(value) if kind is None else isinstance(value, kind)
    if single:
        return [value] * n
    what = "a callable" if kind is None else kind.__name__
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise TypeError(
            f"{argument}: expected {what} or a sequence of them (one per arg), "
            f"received {type(value).__name__}"
        )
    if len(value) != n:
        raise ValueError(f"{argument}: expected {n} entries (one per arg), received {len(value)}")
    for i, v in enumerate(value):
        ok = v is None or (callable(v) if kind is None else isinstance(v, kind))
        if not ok:
            raise TypeError(f"{argument}[{i}]: expected {what} or None, "
                            f"received {type(v).__name__}")
    return list(value)


def _rep_elements(
    reps: list[Representation],
    elements: Any,
    n_samples: int,
    generator: torch.Generator | None,
) -> list[tuple[str, Callable[[Representation], Tensor]]]:
    """Group elements as ``(label, rep ↦ ρ(g))`` pairs for the common group of ``reps``."""
    group = reps[0].group
    if isinstance(group, Group):
        if elements is None:
            indices = list(range(group.order))
        else:
            if isinstance(elements, Tensor):
                elements = elements.tolist()
            if not isinstance(elements, Sequence) or not elements:
                raise ValueError(f"elements: expected a non-empty sequence of element indices "
                                 f"of {group.name}, received {elements!r}")
            indices = list(elements)
            for g in indices:
                if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g < group.order:
                    raise ValueError(f"elements: expected indices in 0..{group.order - 1} "
                                     f"({group.name}), received {g!r}")
        names = group.element_names
        return [(f"element {g} ({names[g]})", lambda r, g=g: r(g)) for g in indices]
    k = group.dim
    if elements is None:
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        coords = torch.randn(n_samples, k, generator=gen, dtype=torch.float64)
    else:
        try:
            coords = torch.as_tensor(elements, dtype=torch.float64, device="cpu")
        except (TypeError, ValueError, RuntimeError) as error:
            raise ValueError(f"elements: expected Lie-algebra coordinates [s, {k}] for "
                             f"{group.name}, received {type(elements).__name__} "
                             f"{elements!r:.60} ({error})") from None
        if k == 1 and coords.dim() == 1:
            coords = coords[:, None]
        if coords.dim() != 2 or coords.shape[1] != k or coords.shape[0] == 0:
            raise ValueError(f"elements: expected Lie-algebra coordinates of shape [s, {k}] for "
                             f"{group.name}, received shape {tuple(coords.shape)}")
        check_finite_input(coords, "elements")
    return [
        (f"exp(t·X) with t = {[round(v, 4) for v in t.tolist()]}", lambda r, t=t: r.matrix_exp(t))
        for t in coords
    ]


def assert_equivariant(
    fn: Callable[..., Tensor],
    args: Sequence[Tensor] | Tensor,
    rep_in: Representation | Sequence[Representation | None] | None = None,
    rep_out: Representation | None = None,
    *,
    actions_in: Action | Sequence[Action | None] | None = None,
    action_out: Action | None = None,
    elements: Sequence[Any] | Tensor | None = None,
    n_samples: int = 4,
    atol: float | None = None,
    rtol: float | None = None,
    generator: torch.Generator | None = None,
) -> float:
    """Assert ``||fn(g · args) - g · fn(args)||_∞ <= atol + rtol · ||g · fn(args)||_∞``.

    Args:
        fn: any callable (a module, a bound method such as ``algebra.mul``) returning a tensor.
        args: input tensors (or one tensor); for representations, the last dimension of each
            carries it: ``args[i]`` is ``[..., d_i]`` and is transformed as ``ρ_i(g) x``.
        rep_in: one :class:`~prodint.groups.Representation` for every arg, or a sequence with
            one per arg where ``None`` leaves that arg untransformed.
        rep_out: the representation on ``fn``'s output (last dimension), or ``None`` for an
            invariant output (trivial action).
        actions_in: instead of ``rep_in``: callables ``action(g, tensor) -> tensor`` (one for
            all args or one per arg, ``None`` = untransformed); needs ``elements``.
        action_out: the output's ``action(g, tensor)`` with ``actions_in`` (``None``:
            invariant).
        elements: finite group: element indices (default: every element). Lie group:
            ``[s, k]`` Lie-algebra coordinates ``t`` of ``exp(Σ t_i A_i)`` (default:
            ``n_samples`` draws from ``N(0, I)``). With actions: the objects passed as ``g``.
        n_samples: number of random Lie-group elements when ``elements`` is not given.
        atol, rtol: tolerances; default :func:`default_tolerance` of the output dtype (1e-10
            for float64, 1e-4 for float32).
        generator: random generator for Lie-group sampling (default: seeded with 0, so a test
            is reproducible).

    Returns:
        The largest error ``max_g ||fn(g · args) - g · fn(args)||_∞``.

    Raises:
        AssertionError: for the element with the largest error relative to its allowance, or
            when ``fn`` returns NaN or inf (for the finite inputs it is given).
        TypeError, ValueError: malformed arguments, named in the message (inputs holding NaN
            or inf, more than :data:`MAX_SAMPLES` samples, NaN or negative tolerances).
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a callable, received {type(fn).__name__}")
    xs = _as_args(args)
    n = len(xs)
    check_int(n_samples, "n_samples", minimum=1)
    check_count(n_samples, "n_samples", "random group elements", MAX_SAMPLES)
    check_tolerance_values(atol, rtol)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, "
                        f"received {type(generator).__name__}")
    if actions_in is not None:
        if rep_in is not None or rep_out is not None:
            raise ValueError("rep_in, rep_out: pass representations or actions_in/action_out, "
                             "not both")
        if action_out is not None and not callable(action_out):
            raise TypeError(f"action_out: expected a callable or None, "
                            f"received {type(action_out).__name__}")
        if (elements is None or isinstance(elements, str)
                or not isinstance(elements, Sequence | Tensor) or len(elements) == 0):
            raise ValueError("elements: actions_in needs an explicit non-empty sequence of "
                             "group elements to pass to the actions")
        ins = [a if a is not None else _identity_action for a in _per_arg(actions_in, n,
                                                                          "actions_in", None)]
        out_action = action_out if action_out is not None else _identity_action
        cases = [
            (f"elements[{i}] = {g!r}", g, ins, out_action) for i, g in enumerate(elements)
        ]
    else:
        if action_out is not None:
            raise ValueError("action_out: only used together with actions_in; pass rep_out")
        if rep_in is None:
            raise TypeError("rep_in: expected a Representation or a sequence of them "
                            "(or actions_in), received None")
        reps_in = _per_arg(rep_in, n, "rep_in", Representation)
        if rep_out is not None and not isinstance(rep_out, Representation):
            raise TypeError(f"rep_out: expected a Representation or None, "
                            f"received {type(rep_out).__name__}")
        reps = [r for r in [*reps_in, rep_out] if r is not None]
        if not reps:
            raise ValueError("rep_in: expected at least one Representation, received only None")
        for i, (x, r) in enumerate(zip(xs, reps_in, strict=True)):
            if r is None:
                continue
            if r.group != reps[0].group:
                raise ValueError(f"rep_in: expected representations of one group, received "
                                 f"{reps[0].group.name} and {r.group.name}")
            if x.dim() == 0 or x.shape[-1] != r.dim:
                raise ValueError(f"args[{i}]: expected last dimension {r.dim} ({r.name}), "
                                 f"received shape {tuple(x.shape)}")
        if rep_out is not None and rep_out.group != reps[0].group:
            raise ValueError(f"rep_out: expected a representation of {reps[0].group.name}, "
                             f"received one of {rep_out.group.name}")
        cases = []
        for label, rho in _rep_elements(reps, elements, n_samples, generator):
            ins = [_identity_action if r is None else _matrix_action(rho(r)) for r in reps_in]
            out = _identity_action if rep_out is None else _matrix_action(rho(rep_out))
            cases.append((label, None, ins, out))

    reference = fn(*xs)
    if not isinstance(reference, Tensor):
        raise TypeError(f"fn: expected to return a torch.Tensor, "
                        f"returned {type(reference).__name__}")
    if rep_out is not None and (reference.dim() == 0 or reference.shape[-1] != rep_out.dim):
        raise ValueError(f"rep_out: fn's output has shape {tuple(reference.shape)}, expected "
                         f"last dimension {rep_out.dim} ({rep_out.name})")
    atol_, rtol_ = check_tolerances(atol, rtol, reference.dtype)
    reference = check_finite_output(reference.detach(), "assert_equivariant", "args")

    worst_error, worst_ratio, worst = 0.0, -1.0, ""
    for label, g, ins, out in cases:
        moved = fn(*(act(g, x) for act, x in zip(ins, xs, strict=True)))
        expected = out(g, reference)
        if not isinstance(moved, Tensor) or moved.shape != expected.shape:
            shape = tuple(moved.shape) if isinstance(moved, Tensor) else type(moved).__name__
            raise AssertionError(f"assert_equivariant: at {label}, fn(g · args) has shape "
                                 f"{shape} but g · fn(args) has {tuple(expected.shape)}")
        check_finite_output(moved.detach(), "assert_equivariant", f"g · args at {label}")
        error = _max_abs(moved.detach() - expected)
        allowed = atol_ + rtol_ * _max_abs(expected)
        ratio = error / allowed if allowed > 0 else (math.inf if error > 0 else 0.0)
        worst_error = max(worst_error, error)
        if ratio > worst_ratio:
            worst_ratio, worst = ratio, (
                f"{label}: max |fn(g · args) - g · fn(args)| = {error:.3e}, "
                f"allowed {allowed:.3e} (atol {atol_:.1e} + rtol {rtol_:.1e} × output scale)"
            )
    if worst_ratio > 1.0:
        raise AssertionError(f"assert_equivariant: fn is not equivariant; worst at {worst}")
    return worst_error
