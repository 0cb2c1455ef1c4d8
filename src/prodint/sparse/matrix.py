"""The sparse matrix of a linear layer, and the unrolled matrix of a recurrence.

:func:`to_sparse_matrix` lowers a layer (or an expression with its parameters) to its span
(:func:`prodint.spans.lowering.lower_expression`) and reads the matrix off the span's
pattern (:class:`~prodint.sparse.pattern.SparsePattern`): ``M[t, s] = Σ_e ν_e w[π_e]``. It
never evaluates the layer. :func:`unroll` gives a recurrence's matrix along time, ordered
time-major, so that causality shows as a block lower-triangular matrix: exactly, from the
span, for a linear recurrence; for a non-linear recurrent layer, its Jacobian at an input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from prodint.checks import check_int, check_memory, check_tensor, describe
from prodint.interaction import Expr, InteractionLayer, Plan
from prodint.spans.autograd import csr_tensor
from prodint.spans.lowering import LoweredExpression, check_linear, lower_expression
from prodint.sparse.pattern import SparsePattern

__all__ = ["to_sparse_matrix", "unroll"]


def _sizes(value: object, argument: str) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | torch.Size):
        raise TypeError(f"{argument}: expected a sequence of sizes, received {describe(value)}")
    return tuple(check_int(s, f"{argument}[{i}]", minimum=1) for i, s in enumerate(value))


def _source(layer: object, parameters: Mapping[str, Tensor] | None
            ) -> tuple[Expr, dict[str, Tensor], dict[str, Tensor]]:
    """The expression, parameters and tables of a layer or of an expression."""
    if isinstance(layer, InteractionLayer):
        if parameters is not None:
            raise TypeError("parameters: expected None for a layer (it holds its own), "
                            f"received {describe(parameters)}")
        return layer.expression, dict(layer.params.items()), layer.tables()
    if isinstance(layer, Expr):
        wanted = [p.name for p in layer.parameters()]
        if wanted and parameters is None:
            raise ValueError(f"parameters: expected tensors for {wanted} (the expression's "
                             "parameters), received None")
        given = dict(parameters or {})
        missing = [n for n in wanted if n not in given]
        if missing:
            raise ValueError(f"parameters: expected tensors for {missing}, received "
                             f"{sorted(given)}")
        for p in layer.parameters():
            check_tensor(given[p.name], f"parameters[{p.name!r}]", shape=p.shape)
        tables = dict(Plan(layer).tables)
        return layer, given, tables
    raise TypeError(f"layer: expected an InteractionLayer or an Expr, received "
                    f"{describe(layer)}")


def _like(parameters: Mapping[str, Tensor]) -> Tensor:
    for value in parameters.values():
        return value
    return torch.ones((), dtype=torch.float64)


def _lowered(layer: object, input_shape: object, parameters: Mapping[str, Tensor] | None
             ) -> tuple[LoweredExpression, tuple[int, ...], Tensor, Tensor | None]:
    expr, params, tables = _source(layer, parameters)
    signal = check_linear(expr)
    shape = _sizes(input_shape, "input_shape")
    k = len(signal.axes)
    if len(shape) < k:
        raise ValueError(f"input_shape: expected [..., {', '.join(repr(a) for a in signal.axes)}]"
                         f" (the signal's axes, after any batch sizes), received {list(shape)}")
    lowered = lower_expression(expr, shape[len(shape) - k:])
    w, bias = lowered.coefficients(params, tables, _like(params))
    return lowered, shape[:len(shape) - k], w, bias


def to_sparse_matrix(layer: InteractionLayer | Expr, input_shape: Sequence[int], *,
                     parameters: Mapping[str, Tensor] | None = None
                     ) -> tuple[Tensor, Tensor]:
    """``(M, b)`` with ``layer(x).flatten() == M @ x.flatten() + b`` for ``x`` of
    ``input_shape``.

    ``M`` is a CSR tensor ``[numel(y), numel(x)]`` built from the layer's span (its values
    differentiable in the parameters), ``b`` a dense ``[numel(y)]`` (zeros without a constant
    term). ``input_shape`` is the signal's axes, optionally after batch sizes: then ``M`` is
    block diagonal, one block per batch entry.

    Args:
        layer: an :class:`~prodint.interaction.InteractionLayer`, or an expression with its
            ``parameters`` (name → tensor).
        input_shape: ``[*batch, *signal sizes]``.

    Raises:
        TypeError: a layer that is neither, sizes that are not ints.
        ValueError: an expression not linear in one signal (the node named), an input shape
            that does not match the signal, missing parameters.
    """
    lowered, lead, w, bias = _lowered(layer, input_shape, parameters)
    pattern = SparsePattern(lowered.span(w.dtype, w.device))
    values = pattern.values(w)
    copies = math.prod(lead)
    rows, cols = pattern.shape
    check_memory(copies * pattern.nnz * (8 + w.element_size()), "input_shape",
                 "the sparse matrix")
    if bias is None:
        bias = w.new_zeros(rows)
    if copies == 1:
        matrix = csr_tensor(pattern.crow, pattern.col, values, (rows, cols))
        return matrix, bias
    block = torch.arange(copies, device=w.device)
    col = (pattern.col.long()[None, :] + cols * block[:, None]).reshape(-1)
    crow = torch.cat([block.new_zeros(1),
                      (pattern.crow[1:].long()[None, :] + pattern.nnz * block[:, None])
                      .reshape(-1)])
    matrix = csr_tensor(crow, col, values.repeat(copies), (rows * copies, cols * copies))
    return matrix, bias.repeat(copies)


def _time_major(sizes: Sequence[int], names: Sequence[str], time: str) -> Tensor:
    """The flat index of every entry in the order with ``time`` first: ``perm[i]`` is the
    original flat index of the ``i``-th entry time-major."""
    d = list(names).index(time)
    grid = torch.arange(math.prod(sizes)).reshape(tuple(sizes))
    return grid.movedim(d, 0).reshape(-1)


def unroll(layer: nn.Module, length: int, *, x: Tensor | None = None,
           time: str = "t") -> Tensor:
    """The matrix of a recurrent layer over ``length`` steps, time-major.

    - A layer linear in its signal (an :class:`~prodint.interaction.InteractionLayer` whose
      expression is linear in ``X``, e.g. a :class:`~prodint.interaction.LinearRecurrence`):
      the dense ``[length · out, length · in]`` matrix of its span, rows and columns ordered
      by (time, then the other axes): block ``(t, s)`` maps step ``s`` to step ``t``, zero
      for ``s > t`` when the layer is causal. Built from the span, never by evaluation.
    - Any other recurrent module, with ``x`` (one sequence, in the layout its ``forward``
      takes, the time steps leading once flattened, e.g. ``[T, 1, C]`` or ``[1, T, C]``):
      the Jacobian ``d layer(x).flatten() / d x.flatten()`` at ``x``, ``[numel(y),
      numel(x)]`` (the first output when ``forward`` returns a tuple); block
      lower-triangular by causality.

    Raises:
        TypeError: a layer that is not a module, ``x`` not a tensor.
        ValueError: a linear layer without a free axis ``time``, a non-linear one without
            ``x`` or with an ``x`` of another length.
    """
    length = check_int(length, "length", minimum=1)
    if not isinstance(layer, nn.Module):
        raise TypeError(f"layer: expected a torch.nn.Module, received {describe(layer)}")
    linear = isinstance(layer, InteractionLayer)
    if linear:
        try:
            signal = check_linear(layer.expression)
        except ValueError:
            linear = False
    if linear:
        names = signal.axis_names
        if time not in names:
            raise ValueError(f"time: expected an axis of the signal {list(names)}, received "
                             f"{time!r}")
        sizes = [length if a.name == time else a.size for a in signal.axes]
        lowered = lower_expression(layer.expression, sizes,  # type: ignore[arg-type]
                                   argument="length")
        params = dict(layer.params.items())
        w, _ = lowered.coefficients(params, layer.tables(), _like(params))
        dense = SparsePattern(lowered.span(w.dtype, w.device)).dense(w)
        if time not in lowered.out_names:
            raise ValueError(f"time: expected an axis of the layer's value "
                             f"{list(lowered.out_names)}, received {time!r}")
        rows = _time_major(lowered.out_sizes, lowered.out_names, time)
        cols = _time_major(lowered.in_sizes, names, time)
        return dense[rows][:, cols]
    if x is None:
        raise ValueError(f"x: expected an input of {length} steps for the non-linear layer "
                         f"{type(layer).__name__} (its Jacobian is taken there), received None")
    x = check_tensor(x, "x")
    if length not in x.shape:
        raise ValueError(f"x: expected an input of {length} steps (length), received shape "
                         f"{tuple(x.shape)}")
    check_memory(x.numel() ** 2 * 2 * x.element_size(), "x", "the Jacobian")

    def output(value: Tensor) -> Tensor:
        y = layer(value)
        return (y[0] if isinstance(y, tuple) else y).reshape(-1)

    jacobian = torch.autograd.functional.jacobian(output, x)
    return jacobian.reshape(-1, x.numel())
