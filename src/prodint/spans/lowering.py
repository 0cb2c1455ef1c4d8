"""The pass that turns a linear expression into a span: :func:`lower_expression`.

An expression linear in its signal ``X`` (order 1, and no node that is not linear in ``X``) is,
on concrete axis sizes, a span ``X <-s- E -t-> Y`` with parameter map ``pi`` and weights
``nu``, plus a constant term (a bias). The pass computes it node by node as a sparse form
(:mod:`prodint.spans.forms`):

- the signal is the identity; a parameter or a fixed table its own entries;
- a structural map (pad, window, stride, upsample, flip, permutation, reshape, masks,
  decay, prefix sums, selections, tie tables) composes with the index map the node states
  (``index_map``, :mod:`prodint.interaction.index_map`);
- a contraction joins its operands' entries on the shared coordinates, an algebra product
  joins them through the sparse triples ``(a, b, c, Γ_abc)`` of its structure constants,
  a sum concatenates;
- a linear recurrence ``h = (1 - a z)^{-1} b`` with a parameter decay joins ``b`` with the
  kernel ``K[t, s] = Π_{s<r≤t} a_r`` (lower-triangular);
- a parameter-only sub-expression that is not polynomial in the parameters (a pointwise
  function of a decay, learned structure constants) is one block of coefficients,
  evaluated when the layer runs.

The coefficients of the span are monomials of the layer's parameters (degree 1 for the
classical layers: ``pi`` then indexes the parameters themselves); ``w`` is computed from
the parameters at every call, so gradients reach them through it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from prodint.checks import check_memory
from prodint.interaction import (
    Constant,
    Contract,
    Expr,
    LinearRecurrence,
    Parameter,
    Plan,
    Product,
    Rename,
    Signal,
    Stack,
    Sum,
)
from prodint.spans import forms
from prodint.spans.forms import Form
from prodint.spans.span import Span

__all__ = ["Coefficients", "LoweredExpression", "check_linear", "linear_signal",
           "lower_expression"]

Tensors = Mapping[str, Tensor]


@dataclass(frozen=True)
class Coefficients:
    """One block ``base[offset : offset + numel]`` of the coefficient vector: a parameter or
    a parameter-only sub-expression, ``evaluate(parameters, tables)`` flattened."""

    name: str
    offset: int
    numel: int
    evaluate: Callable[[Tensors, Tensors], Tensor]


def _learned(algebra: object) -> bool:
    return isinstance(algebra, nn.Module) and any(True for _ in algebra.parameters())


def _symbolic(node: Expr) -> bool:
    """Whether a parameter-only node is lowered entry by entry (polynomial, sparse)."""
    if isinstance(node, Product):
        return not _learned(node.algebra)
    return isinstance(node, (Parameter, Constant, Contract, Sum, Stack, Rename)) or \
        hasattr(node, "index_map")


def _not_linear(node: Expr, signal: str) -> ValueError:
    return ValueError(f"layer: expected an expression linear in its signal {signal}; the "
                      f"node {type(node).__name__} {node} is not linear in it")


def linear_signal(expr: Expr) -> Signal:
    """The one signal an expression is linear in.

    Raises:
        ValueError: no signal of order 1, several, or an order-0 input (a mask, a state).
    """
    signals = expr.signals()
    linear = [s for s in signals if s.self_interaction_order == 1]
    others = [s.name for s in signals if s.self_interaction_order != 1]
    if len(linear) != 1 or others:
        raise ValueError(f"layer: expected an expression of one signal (linear in it), "
                         f"received signals {[s.name for s in linear]} and order-0 inputs "
                         f"{others}")
    return linear[0]


def check_linear(expr: Expr) -> Signal:
    """``expr``'s signal, after checking that every node reading it is linear in it.

    Raises:
        ValueError: a node that is not linear in the signal (named), or bad signals
            (:func:`linear_signal`).
    """
    signal = linear_signal(expr)
    for node in expr.walk():
        if not node.has_batch or isinstance(node, Signal):
            continue
        reading = [c for c in node.children if c.has_batch]
        if isinstance(node, (Contract, Product)):
            if len(reading) > 1:
                raise _not_linear(node, signal.name)
        elif isinstance(node, LinearRecurrence):
            if node.decay.has_batch:
                raise _not_linear(node, signal.name)
        elif not isinstance(node, (Sum, Stack, Rename)) and not hasattr(node, "index_map"):
            raise _not_linear(node, signal.name)
    return signal


def decay_kernel(a: Tensor, length: int) -> Tensor:
    """``K[t, s, ...] = Π_{s<r≤t} a_r`` for ``s ≤ t`` and 0 above (``a [length or 1, ...]``):
    the unrolled linear recurrence ``h_t = a_t h_{t-1} + b_t``, ``h = K b`` along time."""
    a = a.expand(length, *a.shape[1:])
    t = torch.arange(length, device=a.device)
    lower = (t[None, :] <= t[:, None]).reshape(length, length, *([1] * (a.dim() - 1)))
    steps = torch.where(lower, a[None], torch.ones_like(a[None]))       # [t, r, ...]
    suffix = steps.flip(1).cumprod(1).flip(1)                          # Π_{r ≥ s}
    shifted = torch.cat([suffix[:, 1:], torch.ones_like(suffix[:, :1])], 1)  # Π_{r > s}
    return shifted * lower.to(a.dtype)


class _Lowering:
    """One pass over an expression on concrete signal sizes (see the module docstring)."""

    def __init__(self, signal: Signal, sizes: Sequence[int]) -> None:
        self.signal, self.sizes = signal, tuple(sizes)
        self.blocks: list[Coefficients] = []
        self.named: dict[str, int] = {}
        self.size = 1
        self.memo: dict[int, Form] = {}

    def _block(self, name: str, numel: int, evaluate: Callable[[Tensors, Tensors], Tensor],
               ) -> int:
        offset = self.size
        self.blocks.append(Coefficients(name, offset, numel, evaluate))
        self.size += numel
        return offset

    def form(self, node: Expr) -> Form:
        if id(node) not in self.memo:
            self.memo[id(node)] = self._build(node)
        return self.memo[id(node)]

    def _evaluated(self, node: Expr) -> Form:
        """A parameter-only node that is not polynomial: one block of coefficients."""
        plan = Plan(node)
        sizes = tuple(a.size for a in node.axes)

        def evaluate(parameters: Tensors, tables: Tensors) -> Tensor:
            return plan.run({}, {p.name: parameters[p.name] for p in plan.parameters},
                            {n: tables[n] for n in plan.tables})

        offset = self._block(str(node), math.prod(sizes), evaluate)  # type: ignore[arg-type]
        return forms.leaf(node.axis_names, sizes, offset)  # type: ignore[arg-type]

    def _build(self, node: Expr) -> Form:
        if isinstance(node, Signal):
            if node is not self.signal and node.name != self.signal.name:
                raise _not_linear(node, self.signal.name)
            return forms.signal(node.axis_names, self.sizes)
        if not node.has_batch and not _symbolic(node):
            return self._evaluated(node)
        if isinstance(node, Parameter):
            if node.name not in self.named:
                name = node.name
                self.named[name] = self._block(name, math.prod(node.shape),
                                               lambda p, t, name=name: p[name])
            return forms.leaf(node.axis_names, node.shape, self.named[node.name])
        if isinstance(node, Constant):
            return forms.constant(node.axis_names, node.value)
        if isinstance(node, Rename):
            return self.form(node.children[0]).renamed(node.mapping)
        if isinstance(node, Contract):
            u, v = (self.form(c) for c in node.children)
            return forms.join(u, v, node.over, node.axis_names, _describe(node))
        if isinstance(node, Product):
            return self._product(node)
        if isinstance(node, (Sum, Stack)):
            return self._sum(node)
        if isinstance(node, LinearRecurrence):
            return self._recurrence(node)
        if hasattr(node, "index_map"):
            child = self.form(node.children[0])
            return forms.through_map(child, node.index_map(child.sizes), node.axis_names)
        raise _not_linear(node, self.signal.name)

    def _product(self, node: Product) -> Form:
        """``(u ·_A v)_c = Σ_{a,b} Γ_abc u_a v_b`` through the sparse triples of ``Γ``."""
        u, v = (self.form(c) for c in node.children)
        axis = node.axis
        left, right = f"{axis}#left", f"{axis}#right"
        names = (left, right, axis)
        if _learned(node.algebra):
            algebra = node.algebra
            dim = algebra.dim
            offset = self._block(f"Γ({algebra.name})", dim ** 3,
                                 lambda p, t: algebra.structure_constants)
            gamma = forms.leaf(names, (dim, dim, dim), offset)
        else:
            gamma = forms.constant(names, node.algebra.structure_constants)
        u, v = u.renamed({axis: left}), v.renamed({axis: right})
        middle = [n for n in u.names if n != left] + [right, axis]
        first = forms.join(u, gamma, [left], middle, _describe(node))
        return forms.join(first, v, [right], node.axis_names, _describe(node))

    def _sum(self, node: Sum | Stack) -> Form:
        terms = [self.form(c) for c in node.children]
        sizes = {n: s for f in terms for n, s in zip(f.names, f.sizes, strict=True)}
        names = node.axis_names if isinstance(node, Sum) else node.axis_names[1:]
        spread = [forms.broadcast(f, names, [sizes[n] for n in names]) for f in terms]
        if isinstance(node, Sum):
            return forms.concat(spread)
        stacked = []
        for i, f in enumerate(spread):
            coords = torch.cat([torch.full((f.count, 1), i, dtype=torch.int64), f.coords], 1)
            stacked.append(Form(node.axis_names, (len(spread), *f.sizes), coords, f.source,
                                f.mono, f.weight))
        return forms.concat(stacked)

    def _recurrence(self, node: LinearRecurrence) -> Form:
        """``h[t] = Σ_{s≤t} K[t, s] b[s]`` with the decay kernel of a parameter-only ``a``."""
        if node.decay.has_batch:
            raise _not_linear(node, self.signal.name)
        b = self.form(node.drive)
        time = node.time
        key = f"{time}#key"
        length = b.sizes[b.names.index(time)]
        a_names = [n for n in node.decay.axis_names if n != time]
        a_sizes = [node.decay.axes[node.decay.axis_names.index(n)].size for n in a_names]
        plan = Plan(node.decay)
        order = [time, *a_names] if time in node.decay.axis_names else a_names

        def evaluate(parameters: Tensors, tables: Tensors) -> Tensor:
            a = plan.run({}, {p.name: parameters[p.name] for p in plan.parameters},
                         {n: tables[n] for n in plan.tables})
            if a.dim():
                a = a.permute(*[node.decay.axis_names.index(n) for n in order])
            if time not in node.decay.axis_names:
                a = a[None]
            return decay_kernel(a, length)

        sizes = (length, length, *a_sizes)
        offset = self._block(str(node), math.prod(sizes), evaluate)  # type: ignore[arg-type]
        kernel = forms.leaf((time, key, *a_names), sizes, offset)  # type: ignore[arg-type]
        kernel = kernel.take(torch.nonzero(kernel.coords[:, 1] <= kernel.coords[:, 0])[:, 0])
        return forms.join(kernel, b.renamed({time: key}), [key], node.axis_names,
                          _describe(node))


def _describe(node: Expr) -> str:
    return f"the node {type(node).__name__} {node}"


class LoweredExpression:
    """A linear expression on concrete signal sizes as a span and a bias.

    ``value.flatten() == span(w, x.flatten()) + bias`` with ``w, bias =
    coefficients(parameters, tables)``.

    Attributes:
        signal: the signal the expression is linear in.
        in_sizes, out_names, out_sizes: the signal's sizes, the value's axes and sizes.
        blocks: the coefficient blocks (parameters, evaluated sub-expressions).
        source, target, weight: the span's legs over the flattened signal and value
            (``weight`` float64).
        monomials: int64 ``[param_size, D]``: ``w[p] = Π_k base[monomials[p, k]]``, and
            ``param`` ``[E]`` the element's entry of ``w``.
        bias_target, bias_monomials, bias_weight: the constant terms.
    """

    def __init__(self, expr: Expr, signal: Signal, sizes: Sequence[int]) -> None:
        lowering = _Lowering(signal, sizes)
        out = lowering.form(expr)
        self.signal, self.in_sizes = signal, tuple(sizes)
        self.out_names, self.out_sizes = out.names, out.sizes
        self.blocks = tuple(lowering.blocks)
        self.parameters = tuple(sorted(lowering.named))
        flat = out.flat()
        linear = out.source >= 0
        width = out.mono.shape[1]
        key = torch.cat([flat[linear, None], out.source[linear, None], out.mono[linear]], 1)
        unique, inverse = torch.unique(key, dim=0, return_inverse=True)
        weight = torch.zeros(unique.shape[0], dtype=torch.float64).index_add(
            0, inverse, out.weight[linear])
        keep = weight != 0
        unique, weight = unique[keep], weight[keep]
        self.target, self.source, self.weight = unique[:, 0], unique[:, 1], weight
        if width:
            self.monomials, self.param = torch.unique(unique[:, 2:2 + width], dim=0,
                                                      return_inverse=True)
        else:  # no parameters: one coefficient, the constant 1
            self.monomials = torch.zeros(1, 0, dtype=torch.int64)
            self.param = torch.zeros(unique.shape[0], dtype=torch.int64)
        constant = ~linear
        self.bias_target = flat[constant]
        self.bias_monomials = out.mono[constant]
        self.bias_weight = out.weight[constant]
        self._spans: dict[tuple[torch.dtype, torch.device], Span] = {}

    @property
    def in_size(self) -> int:
        return math.prod(self.in_sizes)

    @property
    def out_size(self) -> int:
        return math.prod(self.out_sizes)

    def span(self, dtype: torch.dtype = torch.float64,
             device: torch.device | str = "cpu") -> Span:
        """The span, its weights of ``dtype`` on ``device`` (built once per pair)."""
        device = torch.device(device)
        if (dtype, device) not in self._spans:
            self._spans[(dtype, device)] = Span(
                self.source.to(device), self.target.to(device), self.param.to(device),
                self.weight.to(device=device, dtype=dtype), self.in_size, self.out_size,
                int(self.monomials.shape[0]))
        return self._spans[(dtype, device)]

    def base(self, parameters: Tensors, tables: Tensors, like: Tensor) -> Tensor:
        """The coefficient vector ``[1, block_1, block_2, …]`` in ``like``'s dtype/device."""
        parts = [like.new_ones(1)]
        for block in self.blocks:
            parts.append(block.evaluate(parameters, tables).reshape(-1).to(like.dtype))
        return torch.cat(parts)

    def coefficients(self, parameters: Tensors, tables: Tensors,
                     like: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(w [param_size], bias [out_size] or None)`` from the parameters (differentiable)."""
        base = self.base(parameters, tables, like)
        w = _products(base, self.monomials.to(base.device))
        if not self.bias_target.numel():
            return w, None
        terms = _products(base, self.bias_monomials.to(base.device)) * \
            self.bias_weight.to(device=base.device, dtype=base.dtype)
        bias = base.new_zeros(self.out_size).index_add(0, self.bias_target.to(base.device),
                                                       terms)
        return w, bias


def _products(base: Tensor, monomials: Tensor) -> Tensor:
    """``Π_k base[monomials[:, k]]`` (ones for empty monomials)."""
    if monomials.shape[1] == 0:
        return base.new_ones(monomials.shape[0])
    out = base.index_select(0, monomials[:, 0])
    for k in range(1, monomials.shape[1]):
        out = out * base.index_select(0, monomials[:, k])
    return out


def lower_expression(expr: Expr, sizes: Sequence[int], *,
                     argument: str = "input_shape") -> LoweredExpression:
    """``expr`` (linear in its one signal) as a span on the signal sizes ``sizes``
    (``argument`` names them in messages).

    Raises:
        ValueError: a node that is not linear in the signal (named), an order-0 input, sizes
            that do not match the signal's fixed sizes, a span too large for memory.
    """
    signal = check_linear(expr)
    sizes = tuple(sizes)
    fixed = tuple(a.size for a in signal.axes)
    if len(sizes) != len(fixed) or any(f is not None and f != s for f, s in
                                       zip(fixed, sizes, strict=True)):
        raise ValueError(f"{argument}: expected the sizes of the signal's axes "
                         f"{[(a.name, a.size) for a in signal.axes]}, received {list(sizes)}")
    check_memory(math.prod(sizes) * 8 * 4, argument, "the span's signal entries")
    return LoweredExpression(expr, signal, sizes)
