"""Two executions of an expression: the compiled :class:`Plan` and the reference :func:`evaluate`.

:class:`Plan` does the symbolic work once: it orders the nodes (shared sub-expressions are
computed once) and asks every node for its fast closure (einsum equations, axis permutations
and the algebra's multiplication kernel are fixed here), so running it is a straight list of
tensor operations, which ``torch.compile(fullgraph=True)`` accepts. The module that holds the
parameters is :class:`~prodint.interaction.layer.InteractionLayer` (:func:`compile`).

:func:`evaluate` is the reference: it walks the tree with every node's ``reference`` form
(dense structure constants for products, broadcast-multiply-sum for contractions).

Both check what they are given before computing, each tensor named by its name in the
expression (a signal ``X``, a parameter ``W``, a table ``B``): a tensor, of a floating dtype
(:data:`DTYPES`; integer tables integer), with the trailing axes of a signal or the exact
shape of a parameter or table, and all of one call of one dtype and on one device. When they
disagree, the odd one out is named: the dtype and device shared by most tensors of the call
(a layer's own parameters, for a layer) are the expected ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from prodint.checks import check_tensor, describe
from prodint.interaction.expr import Expr, Kernel, Parameter, Signal, check_expr

#: The dtypes every node computes in: the floating ones (the parameters', for a layer).
DTYPES: tuple[torch.dtype, ...] = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_mapping(value: object, argument: str) -> Mapping[str, object]:
    """A mapping, or a module dict of tensors (``nn.ParameterDict``: not a ``Mapping``)."""
    if not isinstance(value, Mapping) and not (
            hasattr(value, "keys") and hasattr(value, "__getitem__") and hasattr(value, "get")):
        raise TypeError(f"{argument}: expected a mapping of names to tensors, received "
                        f"{describe(value)}")
    return value


#: The tensor the others of a call must agree with, and how messages name it.
Like = tuple[str, Tensor]


def common_tensor(tensors: Mapping[str, object]) -> Like | None:
    """The (name, tensor) of a floating tensor whose (dtype, device) most of ``tensors``
    share, against which the others are checked; ``None`` when there is none. On a tie (one
    tensor against one) the name says which disagree, so that a message names both."""
    floating = {n: t for n, t in tensors.items()
                if isinstance(t, Tensor) and t.is_floating_point()}
    if not floating:
        return None
    counts = Counter((t.dtype, t.device) for t in floating.values())
    best = max(counts.values())
    name, tensor = next((n, t) for n, t in floating.items()
                        if counts[(t.dtype, t.device)] == best)
    tied = [n for n, t in floating.items() if counts[(t.dtype, t.device)] == best]
    if len(counts) > 1 and list(counts.values()).count(best) > 1:
        name = f"{name}: {' and '.join(tied)} disagree"
    return name, tensor


def _check_like(value: Tensor, argument: str, like: Like | None) -> None:
    """``value`` has the dtype and device of ``like``'s tensor (a message naming both)."""
    if like is None:
        return
    name, reference = like
    if value.dtype != reference.dtype:
        raise TypeError(f"{argument}: expected dtype {reference.dtype} (that of {name}), "
                        f"received {value.dtype}")
    if value.device != reference.device:
        raise ValueError(f"{argument}: expected a tensor on {reference.device} (that of "
                         f"{name}), received one on {value.device}")


def _check_input(signal: Signal, value: object, like: Like | None) -> Tensor:
    layout = "[..., " + ", ".join(repr(a) for a in signal.axes) + "]"
    check_tensor(value, signal.name, layout=layout, dtypes=DTYPES)
    assert isinstance(value, Tensor)
    _check_like(value, signal.name, like)
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


def _bind_inputs(signals: list[Signal], args: tuple, kwargs: Mapping[str, Tensor],
                 like: Like | None) -> dict[str, Tensor]:
    if len(signals) == 1 and len(args) == 1 and not kwargs:
        return {signals[0].name: _check_input(signals[0], args[0], like)}
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
    if like is None:
        like = common_tensor({s.name: bound[s.name] for s in signals})
    return {s.name: _check_input(s, bound[s.name], like) for s in signals}


def _tables_of(node: Expr) -> dict[str, Tensor]:
    tables = getattr(node, "tables", None)
    return tables() if tables is not None else {}


def _check_parameters(expected: Sequence[Parameter], parameters: Mapping[str, object],
                      like: Like | None) -> None:
    missing = [p.name for p in expected if p.name not in parameters]
    if missing:
        raise ValueError(f"parameters: expected values for {missing}, received "
                         f"{sorted(parameters)}")
    for p in expected:
        layout = "[" + ", ".join(repr(a) for a in p.axes) + "]"
        value = check_tensor(parameters[p.name], p.name, shape=p.shape, layout=layout,
                             dtypes=DTYPES)
        _check_like(value, p.name, like)


def _check_tables(expected: Mapping[str, Tensor], tables: Mapping[str, object],
                  like: Like | None, *, complete: bool) -> None:
    """Each given table has the shape of its own tensor, an integer dtype where that is
    integer, and otherwise the dtype of ``like``; all are on ``like``'s device."""
    missing = [n for n in expected if n not in tables]
    if complete and missing:
        raise ValueError(f"tables: expected values for {missing}, received {sorted(tables)}")
    for name, own in expected.items():
        if name not in tables:
            continue
        floating = own.is_floating_point()
        value = check_tensor(tables[name], name, shape=tuple(own.shape),
                             dtypes=DTYPES if floating else (torch.int32, torch.int64))
        if floating:
            _check_like(value, name, like)
        elif like is not None and value.device != like[1].device:
            raise ValueError(f"{name}: expected a tensor on {like[1].device} (that of "
                             f"{like[0]}), received one on {value.device}")


def evaluate(expr: Expr, inputs: Mapping[str, Tensor], parameters: Mapping[str, Tensor],
             constants: Mapping[str, Tensor] | None = None) -> Tensor:
    """Reference value of ``expr`` (clarity first; the compiled module must agree with it).

    Args:
        expr: the expression.
        inputs: signal name → tensor ``[*batch, *signal.axes]``.
        parameters: parameter name → tensor of the parameter's shape.
        constants: buffer name → tensor for the fixed tables of :class:`Constant` and
            :class:`Gather` nodes (a layer passes its buffers), each of its node's shape; by
            default each node's own tensor, with floating tables cast to the dtype and device
            of the parameters and inputs.

    Raises:
        TypeError: ``expr`` is not an expression, a mapping is not one, a value is not a
            tensor or of another dtype than the others (integer inputs included).
        ValueError: a missing input or parameter, a value of another shape than its
            signal's axes, parameter's or table's shape, or on another device.
    """
    check_expr(expr, "expr")
    _check_mapping(inputs, "inputs")
    _check_mapping(parameters, "parameters")
    if constants is not None:
        _check_mapping(constants, "constants")
    signals, expected = expr.signals(), expr.parameters()
    own_tables = {n: t for node in expr.walk() for n, t in _tables_of(node).items()}
    like = common_tensor({**{p.name: parameters.get(p.name) for p in expected},
                          **{s.name: inputs.get(s.name) for s in signals},
                          **(constants or {})})
    _check_parameters(expected, parameters, like)
    bound = _bind_inputs(signals, (), inputs, like)
    if constants is not None:
        _check_tables(own_tables, constants, like, complete=False)
    values: dict[int, Tensor] = {}
    for node in expr.walk():
        if isinstance(node, Signal):
            values[id(node)] = bound[node.name]
        elif isinstance(node, Parameter):
            values[id(node)] = parameters[node.name]
        else:
            tables = []
            for name, own in _tables_of(node).items():
                if constants is not None and name in constants:
                    tables.append(constants[name])
                elif like is not None:
                    dtype = like[1].dtype if own.is_floating_point() else own.dtype
                    tables.append(own.to(device=like[1].device, dtype=dtype))
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
        parameters: the parameter leaves, in order of first appearance.
        tables: buffer name → the fixed tensor of each :class:`Constant` / :class:`Gather`.

    Raises:
        TypeError: ``expr`` is not an expression.
        ValueError: two different fixed tables of one name.
    """

    def __init__(self, expr: Expr):
        check_expr(expr, "expr")
        self.signals = expr.signals()
        self.parameters = expr.parameters()
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

    def bind(self, args: tuple, kwargs: Mapping[str, Tensor], *,
             like: Like | None = None) -> dict[str, Tensor]:
        """Signal name → checked input tensor, from positional or named inputs: tensors of
        the signals' trailing axes, of one floating dtype and device (those of ``like``,
        ``(name for messages, tensor)``, where given: a layer's parameters)."""
        return _bind_inputs(self.signals, args, kwargs, like)

    def run(self, inputs: Mapping[str, Tensor], parameters: Mapping[str, Tensor],
            tables: Mapping[str, Tensor]) -> Tensor:
        """The expression's value from inputs, parameters and fixed tables, checked as
        :func:`evaluate` checks them (a layer checks its inputs with :meth:`bind` and runs
        its own tensors unchecked).

        Raises:
            TypeError, ValueError: as :func:`evaluate`.
        """
        _check_mapping(inputs, "inputs")
        _check_mapping(parameters, "parameters")
        _check_mapping(tables, "tables")
        like = common_tensor({**{p.name: parameters.get(p.name) for p in self.parameters},
                              **{s.name: inputs.get(s.name) for s in self.signals},
                              **tables})
        _check_parameters(self.parameters, parameters, like)
        _check_tables(self.tables, tables, like, complete=True)
        bound = _bind_inputs(self.signals, (), inputs, like)
        return self._execute(bound, parameters, tables)

    def _execute(self, inputs: Mapping[str, Tensor], parameters: Mapping[str, Tensor],
                tables: Mapping[str, Tensor]) -> Tensor:
        """:meth:`run` without the checks: for inputs from :meth:`bind` and the parameters
        and tables of the layer that holds them (shapes fixed at its construction)."""
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


