"""From an expression to a torch module: :func:`compile`, and the reference :func:`evaluate`.

:func:`compile` does the symbolic work once: it orders the nodes (shared sub-expressions are
computed once), registers the parameters with their documented initialisation and the algebras
as sub-modules (so ``.to()`` moves them), and asks every node for its fast closure (einsum
equations, axis permutations and the algebra's multiplication kernel are fixed here). The
module's forward is then a straight list of tensor operations, which
``torch.compile(fullgraph=True)`` accepts.

:func:`evaluate` is the reference: it walks the tree with every node's ``reference`` form
(dense structure constants for products, broadcast-multiply-sum for contractions).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from prodint.interaction.expr import Expr, Kernel, Parameter, Signal
from prodint.interaction.products import Product


def _check_input(signal: Signal, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{signal.name}: expected a torch.Tensor, received "
                        f"{type(value).__name__}")
    k = len(signal.axes)
    if value.dim() < k:
        raise ValueError(f"{signal.name}: expected a tensor [..., "
                         f"{', '.join(repr(a) for a in signal.axes)}], received shape "
                         f"{tuple(value.shape)}")
    for axis, size in zip(signal.axes, value.shape[value.dim() - k:], strict=True):
        if axis.size is not None and axis.size != size:
            raise ValueError(f"{signal.name}: expected axis {axis.name!r} of size {axis.size}, "
                             f"received shape {tuple(value.shape)} (trailing axes "
                             f"{[a.name for a in signal.axes]})")
    return value


def _bind_inputs(signals: list[Signal], args: tuple,
                 kwargs: Mapping[str, Tensor]) -> dict[str, Tensor]:
    if len(signals) == 1 and len(args) == 1 and not kwargs:
        return {signals[0].name: _check_input(signals[0], args[0])}
    if len(args) > len(signals):
        raise TypeError(f"inputs: expected at most {len(signals)} positional inputs "
                        f"({[s.name for s in signals]}), received {len(args)}")
    bound = dict(zip([s.name for s in signals], args, strict=False))
    for name, value in kwargs.items():
        if name not in {s.name for s in signals} or name in bound:
            raise TypeError(f"inputs: unexpected or repeated input {name!r}; expected "
                            f"{[s.name for s in signals]}")
        bound[name] = value
    missing = [s.name for s in signals if s.name not in bound]
    if missing:
        raise TypeError(f"inputs: missing {missing}")
    return {s.name: _check_input(s, bound[s.name]) for s in signals}


def evaluate(expr: Expr, inputs: Mapping[str, Tensor], parameters: Mapping[str, Tensor]) -> Tensor:
    """Reference value of ``expr`` (clarity first; the compiled module must agree with it).

    Args:
        expr: the expression.
        inputs: signal name → tensor ``[*batch, *signal.axes]``.
        parameters: parameter name → tensor of the parameter's shape.
    """
    values: dict[int, Tensor] = {}
    bound = _bind_inputs(expr.signals(), (), inputs)
    for node in expr.walk():
        if isinstance(node, Signal):
            values[id(node)] = bound[node.name]
        elif isinstance(node, Parameter):
            values[id(node)] = parameters[node.name]
        else:
            values[id(node)] = node.reference(*(values[id(c)] for c in node.children))
    return values[id(expr)]


class CompiledInteraction(nn.Module):
    """A torch module computing an interaction expression.

    Call it with the signals positionally (in order of first appearance) or by name; each is
    ``[*batch, *signal.axes]`` and the output is ``[*batch, *expr.axes]``.

    Attributes:
        expression: the expression compiled.
        self_interaction_order: its order.
        params: the learnable tensors, by parameter name.
    """

    def __init__(self, expr: Expr, *, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(expr, Expr):
            raise TypeError(f"expr: expected an Expr, received {type(expr).__name__}")
        if not expr.signals():
            raise ValueError("expr: expected an expression of at least one signal, "
                             "received one of parameters only")
        self.expression = expr
        self.self_interaction_order = expr.self_interaction_order
        self.params = nn.ParameterDict({
            p.name: nn.Parameter(p.initial_value(dtype=dtype, generator=generator))
            for p in expr.parameters()
        })
        algebras: dict[str, nn.Module] = {}
        for node in expr.walk():
            if isinstance(node, Product) and isinstance(node.algebra, nn.Module):
                algebras.setdefault(f"a{len(algebras)}", node.algebra)
        self.algebras = nn.ModuleDict(algebras)
        if dtype is not None:
            self.algebras.to(dtype)
        self._signals = expr.signals()
        # The plan: (kind, payload, child slots); step i leaves its value in slot i.
        nodes = expr.walk()
        slot: dict[int, int] = {}
        self._plan: list[tuple[str, object, tuple[int, ...]]] = []
        for node in nodes:
            if getattr(node, "is_alias", False):
                # renaming changes no values: point at the child's slot, add no step
                slot[id(node)] = slot[id(node.children[0])]
                continue
            slot[id(node)] = len(self._plan)
            if isinstance(node, Signal):
                self._plan.append(("signal", node.name, ()))
            elif isinstance(node, Parameter):
                self._plan.append(("param", node.name, ()))
            else:
                kernel: Kernel = node.kernel()
                self._plan.append(("op", kernel, tuple(slot[id(c)] for c in node.children)))
        self._output = slot[id(expr)]

    def forward(self, *args: Tensor, **kwargs: Tensor) -> Tensor:
        bound = _bind_inputs(self._signals, args, kwargs)
        values: list[Tensor] = []
        for kind, payload, slots in self._plan:
            if kind == "signal":
                values.append(bound[payload])  # type: ignore[index]
            elif kind == "param":
                values.append(self.params[payload])  # type: ignore[index]
            else:
                values.append(payload(*(values[i] for i in slots)))  # type: ignore[operator]
        return values[self._output]

    def reference(self, *args: Tensor, **kwargs: Tensor) -> Tensor:
        """The same computation by :func:`evaluate` with this module's parameters."""
        bound = _bind_inputs(self._signals, args, kwargs)
        return evaluate(self.expression, bound, dict(self.params.items()))

    def extra_repr(self) -> str:
        return f"order={self.self_interaction_order}, expression={self.expression}"


def compile(expr: Expr, *, dtype: torch.dtype | None = None,
            generator: torch.Generator | None = None) -> CompiledInteraction:
    """Compile ``expr`` into a :class:`CompiledInteraction` module (see module doc)."""
    return CompiledInteraction(expr, dtype=dtype, generator=generator)
