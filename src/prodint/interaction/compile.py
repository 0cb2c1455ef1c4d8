"""Two executions of an expression: the compiled :class:`Plan` and the reference :func:`evaluate`.

:class:`Plan` does the symbolic work once: it orders the nodes (shared sub-expressions are
computed once) and asks every node for its fast closure (einsum equations, axis permutations
and the algebra's multiplication kernel are fixed here), so running it is a straight list of
tensor operations, which ``torch.compile(fullgraph=True)`` accepts. The module that holds the
parameters is :class:`~prodint.interaction.layer.InteractionLayer` (:func:`compile`).

:func:`evaluate` is the reference: it walks the tree with every node's ``reference`` form
(dense structure constants for products, broadcast-multiply-sum for contractions).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from prodint.interaction.expr import Expr, Kernel, Parameter, Signal


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


def _tables_of(node: Expr) -> dict[str, Tensor]:
    tables = getattr(node, "tables", None)
    return tables() if tables is not None else {}


def evaluate(expr: Expr, inputs: Mapping[str, Tensor], parameters: Mapping[str, Tensor],
             constants: Mapping[str, Tensor] | None = None) -> Tensor:
    """Reference value of ``expr`` (clarity first; the compiled module must agree with it).

    Args:
        expr: the expression.
        inputs: signal name → tensor ``[*batch, *signal.axes]``.
        parameters: parameter name → tensor of the parameter's shape.
        constants: buffer name → tensor for the fixed tables of :class:`Constant` and
            :class:`Gather` nodes (a layer passes its buffers); by default each node's own
            tensor, with floating tables cast to the dtype and device of the first parameter
            or input.
    """
    values: dict[int, Tensor] = {}
    bound = _bind_inputs(expr.signals(), (), inputs)
    missing = [p.name for p in expr.parameters() if p.name not in parameters]
    if missing:
        raise ValueError(f"parameters: expected values for {missing}, received "
                         f"{sorted(parameters)}")
    like = next(iter([*parameters.values(), *bound.values()]), None)
    for node in expr.walk():
        if isinstance(node, Signal):
            values[id(node)] = bound[node.name]
        elif isinstance(node, Parameter):
            value = parameters[node.name]
            if tuple(value.shape) != node.shape:
                raise ValueError(f"parameters: expected {node.name!r} of shape {node.shape}, "
                                 f"received {tuple(value.shape)}")
            values[id(node)] = value
        else:
            tables = []
            for name, own in _tables_of(node).items():
                if constants is not None and name in constants:
                    tables.append(constants[name])
                elif like is not None:
                    dtype = like.dtype if own.is_floating_point() else own.dtype
                    tables.append(own.to(device=like.device, dtype=dtype))
                else:
                    tables.append(own)
            values[id(node)] = node.reference(*(values[id(c)] for c in node.children), *tables)
    return values[id(expr)]


class Plan:
    """The compiled form of an expression: a straight list of tensor operations.

    Built once: shared sub-expressions get one step, renames none (they alias their child's
    value), and every node's fast closure (einsum equations, permutations, the algebra's
    kernel) is fixed here. :meth:`run` executes the steps with the parameters and fixed tables
    given, so one plan serves every module that holds those tensors.

    Attributes:
        signals: the signal leaves, in order of first appearance.
        tables: buffer name → the fixed tensor of each :class:`Constant` / :class:`Gather`.
    """

    def __init__(self, expr: Expr):
        self.signals = expr.signals()
        self.tables: dict[str, Tensor] = {}
        nodes = expr.walk()
        slot: dict[int, int] = {}
        # (kind, payload, child slots, table names); step i leaves its value in slot i.
        self._steps: list[tuple[str, object, tuple[int, ...], tuple[str, ...]]] = []
        for node in nodes:
            if getattr(node, "is_alias", False):
                slot[id(node)] = slot[id(node.children[0])]
                continue
            slot[id(node)] = len(self._steps)
            if isinstance(node, Signal):
                self._steps.append(("signal", node.name, (), ()))
            elif isinstance(node, Parameter):
                self._steps.append(("param", node.name, (), ()))
            else:
                names = []
                for name, value in _tables_of(node).items():
                    prev = self.tables.setdefault(name, value)
                    if prev is not value and (prev.shape != value.shape
                                              or not torch.equal(prev, value)):
                        raise ValueError(f"expr: two different fixed tables are both called "
                                         f"{name!r}; expected one table per name")
                    names.append(name)
                kernel: Kernel = node.kernel()
                self._steps.append(("op", kernel, tuple(slot[id(c)] for c in node.children),
                                    tuple(names)))
        self._output = slot[id(expr)]

    def bind(self, args: tuple, kwargs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Signal name → checked input tensor, from positional or named inputs."""
        return _bind_inputs(self.signals, args, kwargs)

    def run(self, inputs: Mapping[str, Tensor], parameters: Mapping[str, Tensor],
            tables: Mapping[str, Tensor]) -> Tensor:
        """The expression's value from bound inputs, parameters and fixed tables."""
        values: list[Tensor] = []
        for kind, payload, slots, names in self._steps:
            if kind == "signal":
                values.append(inputs[payload])  # type: ignore[index]
            elif kind == "param":
                values.append(parameters[payload])  # type: ignore[index]
            else:
                values.append(payload(*(values[i] for i in slots),  # type: ignore[operator]
                                      *(tables[n] for n in names)))
        return values[self._output]


