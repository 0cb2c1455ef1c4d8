"""The layer contract: one expression, several executions, all equal.

Every layer prodint ships is an :class:`InteractionLayer` (or a module built of them). Its
**expression** states everything it computes: every parameter, every tie between parameters
(:class:`~prodint.interaction.ties.Gather`, :class:`~prodint.interaction.ties.Constant`),
masks, decay and normalization. The rest are ways of executing or reading that one object:

============================ ===============================================================
``expression``               the complete interaction (an :class:`~prodint.interaction.Expr`)
``self_interaction_order``   derived from ``expression``; never set by hand
``forward(...)``             the fast path (native torch kernels where the expression is
                             recognised; by default the compiled expression)
``general(...)``             always the compiled expression (:class:`~prodint.interaction.
                             compile.Plan`), bound to this layer's own parameters, no copy
``reference(...)``           always the node-by-node evaluation
                             (:func:`~prodint.interaction.compile.evaluate`)
``oracle(...)``              optional: an independent implementation (a loop, a peer) that
                             tests compare with; raises ``NotImplementedError`` if absent
``expression_on(x, prefix)`` the expression on another input expression ``x``, parameters
                             and tables renamed ``prefix + name``: how a composite
                             (:mod:`prodint.interaction.composite`) states this layer as a
                             part
============================ ===============================================================

Torch conventions: ``reset_parameters()`` redraws every parameter with its documented
initialisation, ``extra_repr`` shows the order and the expression, and the constructor takes
``device=`` / ``dtype=`` (and a ``generator=`` for reproducible draws).

State-dict naming (one scheme for every family): the learnable tensor of the expression's
parameter ``W`` is ``params.W`` (prefixed by the sub-module path in a composite model). Fixed
tables (tie indices and weights, bases, constants) are the non-persistent buffers
``constants.<name>``, and an algebra's structure constants are non-persistent buffers of the
algebra: neither is checkpoint state, both follow ``.to()``.

The registry of layer families (:class:`~prodint.interaction.registry.Family`,
:class:`~prodint.interaction.registry.Case`) gives every family a small random
configuration; one test over the registry holds ``forward``, ``general`` and ``reference``
equal (values and every gradient) and the order derived and documented.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from prodint.checks import check_device, check_dtype, check_generator, check_memory, describe
from prodint.interaction.axes import same_algebra
from prodint.interaction.compile import Plan, evaluate
from prodint.interaction.expr import Expr, Parameter, Signal, check_expr
from prodint.interaction.products import Product
from prodint.interaction.structural import Permute
from prodint.interaction.ties import Constant, Gather


class _Tables(nn.Module):
    """Holder of an expression's fixed tables, as non-persistent buffers.

    Floating tables keep their exact value (as the expression gives it, e.g. float64
    Clebsch–Gordan coefficients): every cast or move is applied to it, so ``.double()`` after
    a float32 construction gives the float64 table, not its float32 rounding widened.
    """

    def __init__(self, tables: Mapping[str, Tensor], *, device: torch.device | str | None,
                 dtype: torch.dtype | None):
        super().__init__()
        float_dtype = dtype or torch.get_default_dtype()
        self._exact = {name: value.detach().cpu() for name, value in tables.items()
                       if value.is_floating_point()}
        for name, value in tables.items():
            value = value.to(device=device, dtype=float_dtype if value.is_floating_point()
                             else value.dtype)
            self.register_buffer(name, value.clone(), persistent=False)

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def, override]
        super()._apply(fn, recurse)
        for name, exact in self._exact.items():
            moved = self._buffers[name]
            self._buffers[name] = fn(exact).to(device=moved.device, dtype=moved.dtype)
        return self


class InteractionLayer(nn.Module):
    """A module computing one interaction expression (the layer contract, see module doc).

    Call it with the signals positionally (in order of first appearance) or by name; each is
    ``[*batch, *signal.axes]`` and the output is ``[*batch, *expression.axes]``.

    Args:
        expression: the complete interaction this layer computes.
        device: where the parameters and tables live.
        dtype: floating dtype of the parameters, tables and algebras (default: torch's).
        generator: random generator for the initial draw.

    Attributes:
        params: the learnable tensors, by parameter name (``params.<name>`` in a state dict).
        constants: the fixed tables, by name (non-persistent buffers).

    Raises:
        TypeError: ``expression`` is not an expression, ``device``, ``dtype`` (a floating
            one) or ``generator`` of another kind.
        ValueError: an expression without signals, an unknown or unavailable device,
            parameters whose total would not fit in memory (checked before any draw).

    Inputs are checked at every execution (:meth:`~prodint.interaction.compile.Plan.bind`):
    tensors with the signals' trailing axes, of the parameters' dtype and on their device.
    """

    def __init__(self, expression: Expr, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        check_expr(expression, "expression")
        device = check_device(device)
        dtype = check_dtype(dtype)
        check_generator(generator)
        if not expression.signals():
            raise ValueError("expression: expected an expression of at least one signal, "
                             "received one of parameters only")
        size = (dtype or torch.get_default_dtype()).itemsize
        check_memory(sum(size * math.prod(p.shape) for p in expression.parameters()),
                     "expression", "parameters")
        self._expression = expression
        self._plan = Plan(expression)
        self._generator = generator
        self.params = nn.ParameterDict({
            p.name: nn.Parameter(p.initial_value(dtype=dtype, generator=generator)
                                 .to(device=device))
            for p in expression.parameters()
        })
        self.constants = _Tables(self._plan.tables, device=device, dtype=dtype)
        algebras: dict[str, nn.Module] = {}
        for node in expression.walk():
            if isinstance(node, Product) and isinstance(node.algebra, nn.Module) and \
                    all(node.algebra is not a for a in algebras.values()):
                algebras[f"a{len(algebras)}"] = node.algebra
        self.algebras = nn.ModuleDict(algebras)
        if dtype is not None or device is not None:
            self.algebras.to(device=device, dtype=dtype)

    # ------------------------------------------------------------------ the expression
    @property
    def expression(self) -> Expr:
        """The complete interaction this layer computes."""
        return self._expression

    @property
    def self_interaction_order(self) -> int:
        """``expression.self_interaction_order`` (derived, never stored)."""
        return self._expression.self_interaction_order

    def param(self, name: str) -> Tensor:
        """The learnable tensor of the expression's parameter ``name``.

        Raises:
            UnknownParameterError: (a ``KeyError`` and a ``ValueError``) no parameter of that name.
        """
        if not isinstance(name, str) or name not in self.params:
            raise UnknownParameterError(f"name: expected one of {list(self.params)}, received "
                                   f"{describe(name)}")
        return self.params[name]

    def has_param(self, name: str) -> bool:
        """Whether the expression has a parameter called ``name``."""
        return name in self.params

    def tables(self) -> dict[str, Tensor]:
        """The fixed tables (tie indices and weights, constants), by name."""
        return dict(self.constants.named_buffers())

    def expression_on(self, x: Expr, prefix: str) -> Expr:
        """This layer's expression with its signal replaced by the expression ``x`` and every
        parameter and fixed table renamed ``prefix + name`` (how a composite states a part,
        :class:`~prodint.interaction.composite.CompositeLayer`).

        ``x`` carries the signal's axes (same names and sizes, a free size matching any; the
        same algebra where both tag one, as operands of a sum must; the order may differ:
        ``x`` is permuted to the signal's). A renamed parameter
        keeps its axes, initialisation and fan-in, so the value is the layer's own:
        ``expression_on(x, p)`` evaluated with ``p + name → params[name]`` is ``self(x)``.
        Its order is ``ord(expression)`` with the signal counted as ``ord(x)``.

        Raises:
            ValueError: the expression has several signals (which one ``x`` replaces is then
                the layer's to say, in an override), or ``x`` lacks the signal's axes.
            TypeError: ``x`` is not an expression or ``prefix`` not a string.
        """
        check_expr(x, "x")
        if not isinstance(prefix, str) or not (prefix + "a").isidentifier():
            raise TypeError(f"prefix: expected a string that starts an identifier, received "
                            f"{prefix!r}")
        signals = self._expression.signals()
        if len(signals) != 1:
            raise ValueError(f"expression: expected a layer of one signal to restate on x, "
                             f"received {type(self).__name__} with signals "
                             f"{[s.name for s in signals]}")
        signal = signals[0]
        return _restated(self._expression, signal, _as_signal(x, signal), prefix)

    # ------------------------------------------------------------------ executions
    def _like(self) -> tuple[str, Tensor] | None:
        """A tensor of this layer's dtype and device (a parameter, else a floating table),
        which the inputs must share, with how messages name it."""
        for value in self.params.values():
            return "the layer's parameters", value
        table = next((t for t in self.constants.buffers() if t.is_floating_point()), None)
        return None if table is None else ("the layer's tables", table)

    def run_plan(self, *signals: Tensor, **named: Tensor) -> Tensor:
        """The compiled expression on its signals (positional or by name).

        Raises:
            TypeError, ValueError: inputs that are not tensors of the signals' trailing axes,
                of this layer's dtype and on its device (:meth:`Plan.bind`).
        """
        bound = self._plan.bind(signals, named, like=self._like())
        return self._plan._execute(bound, self.params, self.tables())

    def run_reference(self, *signals: Tensor, **named: Tensor) -> Tensor:
        """The node-by-node evaluation on the expression's signals (positional or by name);
        inputs checked as by :meth:`run_plan`."""
        bound = self._plan.bind(signals, named, like=self._like())
        return evaluate(self._expression, bound, dict(self.params.items()), self.tables())

    def general(self, *inputs: Tensor, **named: Tensor) -> Tensor:
        """The compiled expression, bound to this layer's parameters (no native dispatch).

        Takes the same arguments as ``forward``. A layer whose ``forward`` takes other
        arguments than the expression's signals (a layout, masks to build) overrides
        ``forward``, ``general`` and ``reference`` as one wrapper around three executors:
        its native kernel, :meth:`run_plan` and :meth:`run_reference`.
        """
        return self.run_plan(*inputs, **named)

    def reference(self, *inputs: Tensor, **named: Tensor) -> Tensor:
        """The node-by-node evaluation of the expression (same arguments as ``forward``)."""
        return self.run_reference(*inputs, **named)

    def oracle(self, *inputs: Tensor, **named: Tensor) -> Tensor:
        """An independent implementation (a loop, a peer), where the family has one."""
        raise NotImplementedError(f"{type(self).__name__} has no independent oracle")

    def forward(self, *inputs: Tensor, **named: Tensor) -> Tensor:
        """The fast path; by default the compiled expression (:meth:`general`)."""
        return self.general(*inputs, **named)

    # ------------------------------------------------------------------ torch conventions
    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Redraw every parameter with the initialisation its expression documents."""
        for p in self._expression.parameters():
            target = self.params[p.name]
            value = p.initial_value(dtype=target.dtype, generator=self._generator)
            target.copy_(value.to(target.device))

    @torch.no_grad()
    def load_tensors(self, **tensors: Tensor) -> None:
        """Copy tensors into the named parameters (shapes must match exactly; any real
        dtype and any device with data, converted to the parameter's).

        Raises:
            UnknownParameterError: a name that is no parameter's.
            TypeError: a value that is not a real (non-complex) tensor.
            ValueError: a value of another shape, or on the meta device (no data).
        """
        for name, value in tensors.items():
            target = self.param(name)
            if not isinstance(value, Tensor) or value.is_complex():
                raise TypeError(f"{name}: expected a real torch.Tensor, received "
                                f"{describe(value)}")
            if target.shape != value.shape:
                raise ValueError(f"{name}: expected shape {tuple(target.shape)}, received "
                                 f"{tuple(value.shape)}")
            if value.device.type == "meta":
                raise ValueError(f"{name}: expected a tensor with data, received one on the "
                                 "meta device")
            target.copy_(value.detach().to(target.dtype))

    def extra_repr(self) -> str:
        return f"order={self.self_interaction_order}, expression={self._expression}"


class UnknownParameterError(KeyError, ValueError):
    """No parameter of the name asked for (a ``KeyError``, as for a dict, and a
    ``ValueError``, as for every bad argument value)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _as_signal(x: Expr, signal: Signal) -> Expr:
    """``x`` with the axes of ``signal`` in the signal's order (a clear error otherwise)."""
    received = {a.name: a for a in x.axes}
    fits = sorted(received) == sorted(signal.axis_names) and all(
        (a.size is None or received[a.name].size is None or a.size == received[a.name].size)
        and (a.algebra is None or received[a.name].algebra is None
             or same_algebra(a.algebra, received[a.name].algebra)) for a in signal.axes)
    if not fits:
        raise ValueError(f"x: expected an expression with the axes of the signal "
                         f"{signal.name} {list(signal.axes)}, received {list(x.axes)}")
    return x if x.axis_names == signal.axis_names else Permute(x, signal.axis_names)


def _restated(expr: Expr, signal: Signal, x: Expr, prefix: str) -> Expr:
    """``expr`` with ``signal`` replaced by ``x`` and parameters and tables prefixed.

    Rebuilt children first (a tie table needs its rebuilt child); shared sub-expressions stay
    shared and every parent is rebuilt, so its checks run again on the new input.
    """
    memo: dict[int, Expr] = {}
    renamed: dict[str, Parameter] = {}

    def rebuild(node: Expr) -> Expr:
        if id(node) in memo:
            return memo[id(node)]
        new: Expr
        if isinstance(node, Signal):
            new = x if node.name == signal.name else node
        elif isinstance(node, Parameter):
            if node.name not in renamed:
                renamed[node.name] = Parameter(prefix + node.name, node.axes, init=node.init,
                                               fan_in=node.fan_in)
            new = renamed[node.name]
        elif isinstance(node, Constant):
            new = Constant(prefix + node.name, node.value, node.axes)
        else:
            kids = [rebuild(c) for c in node.children]
            if isinstance(node, Gather):
                new = Gather(kids[0], prefix + node.name, node.index, node.axes,
                             weight=node.weight)
            elif all(k is c for k, c in zip(kids, node.children, strict=True)):
                new = node
            else:
                new = node.rebuild(kids)
        memo[id(node)] = new
        return new

    return rebuild(expr)


def compile(expr: Expr, *, device: torch.device | str | None = None,
            dtype: torch.dtype | None = None,
            generator: torch.Generator | None = None) -> InteractionLayer:
    """``expr`` as a module: an :class:`InteractionLayer` whose forward is the compiled plan.

    Raises:
        TypeError, ValueError: as :class:`InteractionLayer` (``expr`` its ``expression``).
    """
    check_expr(expr, "expr")
    return InteractionLayer(expr, device=device, dtype=dtype, generator=generator)
