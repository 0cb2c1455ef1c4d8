"""Symmetry as an operation on expressions: a parameter replaced by its equivariant part.

``constrain(expr, "W", symmetry)`` replaces the parameter ``W`` of ``expr`` by a
parametrization of the tensors that a group action on its axes leaves invariant. The symmetry
gives each *leg* of ``W`` (an axis name, or a tuple of names flattened row-major, like the
``(y, x)`` of a grid) a representation; axes in no leg are left alone; a sequence of symmetries
imposes all of them (see :mod:`prodint.groups.legs`: a leg contracted with the input carries
the dual representation, which for permutation and orthogonal representations is the same).
The result is an ordinary expression:

- every leg carries a permutation representation (translations of a grid, rotations, the
  regular representation): the invariant tensors are constant on the orbits of ``G`` on index
  tuples (:func:`prodint.groups.orbit_partition`), so ``W`` becomes a tie table
  ``W[i] = θ[orbit(i), free axes]``, a :class:`~prodint.interaction.ties.Gather` of a smaller
  parameter (:func:`tie`);
- otherwise (a Lie algebra, a sign representation): ``W = Σ_k θ[k] B_k`` over the orthonormal
  basis of :func:`prodint.groups.invariant_basis`, a ``Contract(Constant(B), θ)``.

Either way the compiled layer has exactly one parameter entry per dimension of the invariant
space (per position of the free axes), and is exactly equivariant. A ``support`` (entries
allowed to be non-zero) adds a locality constraint: a dense layer on a grid constrained by the
translations is a circular convolution with a full-size kernel, and with the offsets limited
to a ``k×k`` window it is a ``k×k`` convolution (``prodint.interaction.symmetry_facts`` runs
these facts).

:mod:`prodint.interaction.learned` writes the structure constants of a
:class:`~prodint.algebra.LearnedAlgebra` with this mechanism.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from prodint.checks import check_float, check_int, check_names
from prodint.groups import (
    DEFAULT_MAX_BYTES,
    DEFAULT_RTOL,
    PermutationRepresentation,
    Representation,
    choose_solver,
    invariant_basis,
    orbit_partition,
    tie_index,
)
from prodint.groups.orbits import support_mask
from prodint.interaction.axes import Axis
from prodint.interaction.expr import Expr, Parameter
from prodint.interaction.products import Contract
from prodint.interaction.structural import Permute
from prodint.interaction.ties import Constant, Gather, check_table

__all__ = [
    "AxisSymmetry",
    "Coefficients",
    "constrain",
    "tie",
]

#: One group acting on a parameter's axes: ``{axis name or tuple of names: representation}``.
AxisSymmetry = Mapping[str | tuple[str, ...], Representation | PermutationRepresentation]


class Coefficients(Parameter):
    """The free coefficients of a constrained parameter (a :class:`Parameter`, order 0).

    They are drawn so that the tensor they build starts like the parameter they replace:
    ``mean + std · noise`` with ``noise`` standard normal or uniform of unit variance, where
    :func:`tie` and :func:`constrain` derive ``std`` and ``mean`` from the replaced
    parameter's initialisation (see :func:`constrain`).

    Args:
        name: an identifier (the state-dict entry is ``params.<name>``).
        axes: the coefficient axes.
        std: standard deviation of every entry (0 for a constant start).
        noise: ``"normal"`` or ``"uniform"``.
        mean: optional tensor of the coefficients' shape added to the noise.
    """

    def __init__(self, name: str, axes: Sequence[Axis | tuple], *, std: float,
                 noise: str = "normal", mean: Tensor | None = None):
        if noise not in ("normal", "uniform"):
            raise ValueError(f"noise: expected 'normal' or 'uniform', received {noise!r}")
        if not (isinstance(std, int | float) and math.isfinite(std) and std >= 0):
            raise ValueError(f"std: expected a finite float >= 0, received {std!r}")
        super().__init__(name, axes, init=noise if std > 0 else "zeros", fan_in=())
        if mean is not None and tuple(mean.shape) != self.shape:
            raise ValueError(f"mean: expected shape {self.shape}, received {tuple(mean.shape)}")
        self.std = float(std)
        self.noise = noise
        self.mean = None if mean is None else mean.detach().to(torch.float64)

    def initial_value(self, *, dtype: torch.dtype | None = None,
                      generator: torch.Generator | None = None) -> Tensor:
        """``mean + std · noise`` (see class doc), of :attr:`shape`."""
        if self.std == 0:
            value = torch.zeros(self.shape, dtype=dtype)
        elif self.noise == "normal":
            value = torch.randn(self.shape, dtype=dtype, generator=generator) * self.std
        else:
            unit = torch.rand(self.shape, dtype=dtype, generator=generator) * 2 - 1
            value = unit * (self.std * math.sqrt(3.0))
        return value if self.mean is None else value + self.mean.to(value.dtype)


# ----------------------------------------------------------------------------- helpers
def _target(expr: Expr, parameter: str | Parameter) -> Parameter:
    if not isinstance(expr, Expr):
        raise TypeError(f"expr: expected an Expr, received {type(expr).__name__}")
    name = parameter.name if isinstance(parameter, Parameter) else parameter
    if not isinstance(name, str):
        raise TypeError(f"parameter: expected a parameter name or Parameter, received "
                        f"{type(parameter).__name__}")
    found = [p for p in expr.parameters() if p.name == name]
    if not found:
        raise ValueError(f"parameter: expected one of the expression's parameters "
                         f"{[p.name for p in expr.parameters()]}, received {name!r}")
    return found[0]


def fresh_name(name: str, taken: set[str]) -> str:
    """``name``, with underscores appended until it is not in ``taken`` (a new axis name)."""
    while name in taken:
        name += "_"
    return name


def _start(target: Parameter) -> tuple[float, float, str]:
    """``(variance, mean, noise)`` of the entries of ``target``'s initial value."""
    fan = math.prod(a.size for a in target.axes if a.name in target.fan_in)  # type: ignore[misc]
    if target.init == "normal":
        return 1.0 / fan, 0.0, "normal"
    if target.init == "uniform":
        return 1.0 / (3.0 * fan), 0.0, "uniform"
    return 0.0, 1.0 if target.init == "ones" else 0.0, "normal"


def _coefficient_name(expr: Expr, target: Parameter, name: str | None) -> str:
    name = f"{target.name}_theta" if name is None else name
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name: expected an identifier, received {name!r}")
    others = {p.name for p in expr.parameters() if p.name != target.name}
    if name in others:
        raise ValueError(f"name: expected a new parameter name, received {name!r}, which the "
                         f"expression already uses")
    return name


def _zero(target: Parameter) -> Expr:
    """The only invariant tensor is zero: a constant, and no parameter."""
    return Constant(f"{target.name}_zero", torch.zeros(target.shape, dtype=torch.float64),
                    target.axes)


# ----------------------------------------------------------------------------- tie tables
def tie(expr: Expr, parameter: str | Parameter, labels: Tensor, *,
        axes: Sequence[str] | None = None, name: str | None = None) -> Expr:
    """Replace a parameter by a tie table: entries with equal labels share one coefficient.

    ``W[i] = θ[labels[i_tied], i_free]`` where ``i_tied`` are the coordinates on ``axes`` and
    ``i_free`` those on the other axes (kept as axes of ``θ``); a label ``-1`` fixes the entry
    at zero. The result is ``Gather(θ)`` with ``θ`` of shape ``[m, *free sizes]``, ``m`` the
    number of labels. ``θ`` starts with the mean and variance of ``W``'s initial entries.

    Args:
        expr: the expression holding the parameter.
        parameter: its name (or the :class:`Parameter`).
        labels: integer tensor with one dimension per axis of ``axes`` (in that order) and
            values in ``-1 … m-1``, each of ``0 … m-1`` occurring.
        axes: the tied axes (default: all the parameter's axes, in its order).
        name: the coefficient parameter (default ``<parameter>_theta``); the tables are the
            buffers ``constants.<parameter>_index`` (and ``_weight`` when a label is ``-1``).

    Raises:
        ValueError: an unknown parameter or axis, labels of the wrong shape, out of range or
            with unused values.
    """
    target = _target(expr, parameter)
    name = _coefficient_name(expr, target, name)
    names = list(target.axis_names)
    tied = names if axes is None else list(check_names(axes, "axes"))
    for a in tied:
        if a not in names:
            raise ValueError(f"axes: expected axes of parameter {target.name!r} (one of "
                             f"{names}), received {a!r}")
    if len(set(tied)) != len(tied):
        raise ValueError(f"axes: expected distinct axes, received {tied}")
    check_table(labels, "labels", floating=False)
    sizes = [target.shape[names.index(a)] for a in tied]
    if list(labels.shape) != sizes:
        raise ValueError(f"labels: expected shape {sizes} (axes {tied} of {target.name!r}), "
                         f"received {list(labels.shape)}")
    labels = labels.detach().cpu().to(torch.long)
    m = int(labels.max()) + 1 if labels.numel() else 0
    if labels.numel() and int(labels.min()) < -1:
        raise ValueError(f"labels: expected values in -1..{m - 1} (-1: fixed at zero), "
                         f"received {int(labels.min())}")
    if m == 0:
        return expr.substitute(target.name, _zero(target))
    used = torch.zeros(m, dtype=torch.bool)
    used[labels[labels >= 0]] = True
    if not bool(used.all()):
        missing = (~used).nonzero().flatten().tolist()[:8]
        raise ValueError(f"labels: expected every label in 0..{m - 1} to occur (an unused label "
                         f"would be a coefficient that does nothing), missing {missing}")
    free = [a for a in target.axes if a.name not in tied]
    orbit = fresh_name("orbit", set(names))
    variance, mean, noise = _start(target)
    sizes_free = [a.size for a in free]
    theta = Coefficients(name, [(orbit, m), *free], std=math.sqrt(variance), noise=noise,
                         mean=torch.full((m, *sizes_free), mean) if mean else None)
    index, kept = tie_index(labels, target.shape, [names.index(a) for a in tied])
    weight = None if bool(kept.all()) else kept.to(torch.float64)
    gather = Gather(theta, target.name, index, target.axes, weight=weight)
    return expr.substitute(target.name, gather)


# ----------------------------------------------------------------------------- constrain
def _positions(target: Parameter, symmetries: Sequence[AxisSymmetry]
               ) -> tuple[list[str], list[dict[tuple[int, ...], object]]]:
    """The constrained axes (in the parameter's order) and the symmetries over their positions."""
    names = list(target.axis_names)
    legs_by_symmetry = []
    for s, sym in enumerate(symmetries):
        where = "symmetry" if len(symmetries) == 1 else f"symmetry[{s}]"
        if not isinstance(sym, Mapping):
            raise TypeError(f"{where}: expected a mapping {{axis or tuple of axes: "
                            f"representation}}, received {type(sym).__name__}")
        legs = []
        for key, rep in sym.items():
            leg = (key,) if isinstance(key, str) else key
            if not isinstance(leg, tuple) or not leg or not all(isinstance(a, str) for a in leg):
                raise TypeError(f"{where}: expected legs given as axis names (a str or a tuple "
                                f"of str), received {key!r}")
            for a in leg:
                if a not in names:
                    raise ValueError(f"{where}: expected axes of parameter {target.name!r} (one "
                                     f"of {names}), received {a!r}")
            legs.append((leg, rep))
        legs_by_symmetry.append(legs)
    constrained = [a for a in names if any(a in leg for legs in legs_by_symmetry
                                          for leg, _ in legs)]
    positional = [{tuple(constrained.index(a) for a in leg): rep for leg, rep in legs}
                  for legs in legs_by_symmetry]
    return constrained, positional


def _reduced_support(target: Parameter, support: Tensor | None,
                     constrained: list[str]) -> Tensor | None:
    """The support on the constrained axes; it must not vary along the free axes."""
    full = support_mask(support, target.shape, target.axis_names)
    if full is None:
        return None
    free = [d for d, a in enumerate(target.axis_names) if a not in constrained]
    if free and not bool((full.all(dim=free) == full.any(dim=free)).all()):
        raise ValueError(f"support: expected a mask that does not vary along the axes no "
                         f"symmetry acts on ({[target.axis_names[d] for d in free]})")
    index = tuple(0 if d in free else slice(None) for d in range(full.dim()))
    return full[index]


def constrain(expr: Expr, parameter: str | Parameter,
              symmetry: AxisSymmetry | Sequence[AxisSymmetry], *,
              support: Tensor | None = None, name: str | None = None, solver: str = "auto",
              rtol: float = DEFAULT_RTOL, max_bytes: int = DEFAULT_MAX_BYTES) -> Expr:
    """Replace ``parameter`` by its parametrization invariant under ``symmetry``.

    Args:
        expr: the expression.
        parameter: the parameter to constrain (name or :class:`Parameter`), e.g. a dense
            weight ``W[c, y, x, o, yo, xo]`` or structure constants ``Γ[a, b, c]``.
        symmetry: ``{leg: representation}`` with legs axis names or tuples of names (their
            entries flattened row-major) and representations of one group
            (:class:`~prodint.groups.Representation` or
            :class:`~prodint.groups.PermutationRepresentation`) of the leg's size; or a
            sequence of such mappings (possibly of different groups), all imposed. Axes in no
            leg are left alone.
        support: optional bool mask broadcastable to the parameter's shape: the entries
            allowed to be non-zero (constant along the axes left alone).
        name: the coefficient parameter's name (default ``<parameter>_theta``).
        solver: ``"auto"`` (orbits when every representation permutes, else SVD),
            ``"orbits"`` or ``"svd"``.
        rtol: the SVD solver's singular-value cutoff.
        max_bytes: the solvers refuse (with the estimate) to plan more working memory.

    Returns:
        ``expr`` with the parameter replaced by ``Gather(θ)`` (orbits, :func:`tie`) or by
        ``Contract(Constant(B), θ)`` over the orthonormal invariant basis ``B`` (SVD), or by a
        zero :class:`~prodint.interaction.ties.Constant` when only zero is invariant. ``θ``
        (a :class:`Coefficients`) has one entry per invariant direction and position of the
        free axes, and starts so that the constrained tensor has the replaced parameter's
        initial entry variance: with ties every entry of ``W`` is an entry of ``θ``, drawn
        like ``W``'s; with a basis of ``m`` tensors over ``N`` entries, ``θ``'s variance is
        ``N/m`` times ``W``'s entry variance (the same total).

    Raises:
        ValueError: an unknown parameter or axis, a representation whose dimension is not the
            leg's size, a non-permutation representation with ``solver="orbits"``, a support
            of the wrong shape, a basis or table above ``max_bytes`` (with the estimate).
        TypeError: malformed symmetries.
    """
    target = _target(expr, parameter)
    name = _coefficient_name(expr, target, name)
    check_float(rtol, "rtol", minimum=0, strict_minimum=True)
    check_int(max_bytes, "max_bytes", minimum=1)
    symmetries = [symmetry] if isinstance(symmetry, Mapping) else symmetry
    if isinstance(symmetries, str) or not isinstance(symmetries, Sequence) or not symmetries:
        raise TypeError(f"symmetry: expected a mapping {{axis or tuple of axes: "
                        f"representation}} or a non-empty sequence of them, received "
                        f"{type(symmetry).__name__}")
    constrained, positional = _positions(target, list(symmetries))
    sizes = [target.shape[target.axis_names.index(a)] for a in constrained]
    mask = _reduced_support(target, support, constrained)
    free = [a for a in target.axes if a.name not in constrained]
    table_bytes = 8 * math.prod(target.shape) * (2 if mask is not None else 1)
    if table_bytes > max_bytes:
        raise ValueError(f"parameter: the tie table of {target.name!r} ({list(target.shape)}) "
                         f"would need about {table_bytes / 2**20:,.1f} MiB; expected at most "
                         f"max_bytes = {max_bytes / 2**20:,.1f} MiB")
    chosen = choose_solver(positional, solver)  # type: ignore[arg-type]
    if chosen == "orbits":
        labels = orbit_partition(sizes, positional, support=mask,  # type: ignore[arg-type]
                                 names=constrained, max_bytes=max_bytes)
        return tie(expr, target.name, labels, axes=constrained, name=name)
    basis = invariant_basis(sizes, positional, support=mask,  # type: ignore[arg-type]
                            names=constrained, rtol=rtol, max_bytes=max_bytes)
    m = basis.shape[0]
    if m == 0:
        return expr.substitute(target.name, _zero(target))
    k = fresh_name("basis", set(target.axis_names))
    by_name = {a.name: a for a in target.axes}
    constant = Constant(f"{target.name}_basis", basis,
                        [(k, m), *(by_name[a] for a in constrained)])
    variance, mean, noise = _start(target)
    count = math.prod(sizes)
    start = None
    if mean:  # the coefficients of the constant tensor, repeated over the free positions
        along = basis.reshape(m, -1).sum(1) * mean
        start = along.view(m, *[1] * len(free)).expand(m, *(a.size for a in free)).clone()
    theta = Coefficients(name, [(k, m), *free], std=math.sqrt(variance * count / m),
                         noise=noise, mean=start)
    spanned: Expr = Contract(constant, theta, over=k)
    if spanned.axis_names != target.axis_names:
        spanned = Permute(spanned, target.axis_names)
    return expr.substitute(target.name, spanned)
