"""A layer executed as its span: :func:`lower` and :class:`SpanLayer`.

``lower(layer)`` reads the layer's expression (:mod:`prodint.spans.lowering`): for an
expression linear in its signal ``X`` it returns a module with the layer's call signature
(``x [..., *signal axes]`` to ``[..., *expression axes]``) that computes

    ``y.flatten(-k) = span(w, x.flatten(-k)) + b``

with ``w`` and ``b`` the monomials of the layer's own parameters (shared, not copied: the
module trains the layer). On free axes (a sequence length, an image size) the span depends
on the input's sizes: it is built at the first call with those sizes and kept.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from prodint.checks import FLOATING, check_instance, check_int, check_tensor, describe
from prodint.interaction import InteractionLayer
from prodint.spans.lowering import LoweredExpression, check_linear, lower_expression
from prodint.spans.span import Span

__all__ = ["SpanLayer", "lower"]


class SpanLayer(nn.Module):
    """A linear :class:`~prodint.interaction.InteractionLayer` executed as its span.

    Args:
        layer: the layer (its parameters are this module's, under ``layer.``).

    Raises:
        TypeError: ``layer`` is not an interaction layer.
        ValueError: its expression is not linear in one signal (the node that is not is
            named), or has order-0 inputs.
    """

    def __init__(self, layer: InteractionLayer) -> None:
        super().__init__()
        check_instance(layer, "layer", InteractionLayer)
        self.signal = check_linear(layer.expression)
        self.layer = layer
        self._argument = _argument_name(layer, self.signal.name)
        self._lowered: dict[tuple[int, ...], LoweredExpression] = {}
        fixed = [a.size for a in self.signal.axes]
        if None not in fixed:
            self.lowered(fixed)  # type: ignore[arg-type]

    def lowered(self, sizes: Sequence[int], *, argument: str = "sizes") -> LoweredExpression:
        """The expression lowered on the signal sizes ``sizes`` (built once per sizes;
        ``argument`` names them in messages).

        Raises:
            TypeError: sizes that are not ints.
            ValueError: sizes that do not match the signal's fixed sizes.
        """
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence | torch.Size):
            raise TypeError(f"{argument}: expected a sequence of sizes, received "
                            f"{describe(sizes)}")
        key = tuple(check_int(s, f"{argument}[{i}]", minimum=0) for i, s in enumerate(sizes))
        if key not in self._lowered:
            self._lowered[key] = lower_expression(self.layer.expression, key, argument=argument)
        return self._lowered[key]

    def span(self, sizes: Sequence[int] | None = None) -> Span:
        """The float64 span on the signal sizes ``sizes`` (the fixed ones by default).

        Raises:
            ValueError: no ``sizes`` for a signal with free axes, or sizes that do not match.
        """
        if sizes is None:
            free = [a.name for a in self.signal.axes if a.size is None]
            if free:
                raise ValueError(f"sizes: expected the signal's sizes (its axes {free} are "
                                 "free), received None")
            sizes = [a.size for a in self.signal.axes]  # type: ignore[misc]
        return self.lowered(sizes).span()  # type: ignore[arg-type]

    def coefficients(self, sizes: Sequence[int], like: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(w, bias)`` of the span on ``sizes`` from the layer's current parameters, in
        the floating dtype and on the device of ``like``."""
        check_tensor(like, "like", dtypes=FLOATING)
        return self.lowered(sizes).coefficients(dict(self.layer.params.items()),
                                                self.layer.tables(), like)

    def prepare(self, inputs: tuple, named: dict[str, Tensor]
                ) -> tuple[Tensor, LoweredExpression, Tensor, Tensor | None]:
        """``(x, lowered, w, bias)`` for a call: the input checked as the layer checks its
        signal (named as the layer's ``forward`` names it), the expression lowered on its
        sizes and the coefficients from the current parameters."""
        layer = self.layer
        like = layer._like()
        signal = self.signal.name
        if self._argument == signal:
            x = layer._plan.bind(inputs, named, like=like)[signal]
        else:
            given = [*inputs, *named.values()]
            if len(given) != 1 or (named and self._argument not in named):
                raise TypeError(f"inputs: expected one input {self._argument}, received "
                                f"{len(inputs)} positional and {sorted(named)} named")
            try:
                x = layer._plan.bind((given[0],), {}, like=like)[signal]
            except (TypeError, ValueError) as error:
                message = str(error)
                if message.startswith(f"{signal}:"):
                    message = self._argument + message[len(signal):]
                raise type(error)(message) from None
        k = len(self.signal.axes)
        sizes = tuple(x.shape[x.dim() - k:])
        lowered = self.lowered(sizes, argument=self._argument)
        w, bias = lowered.coefficients(dict(layer.params.items()), layer.tables(),
                                       like[1] if like is not None else x)
        return x, lowered, w, bias

    def forward(self, *inputs: Tensor, **named: Tensor) -> Tensor:
        """``layer(x)`` computed by the span (inputs checked as the layer checks them)."""
        x, lowered, w, bias = self.prepare(inputs, named)
        lead = x.shape[:x.dim() - len(self.signal.axes)]
        y = lowered.span(x.dtype, x.device)(w, x.reshape(*lead, lowered.in_size))
        if bias is not None:
            y = y + bias
        return y.reshape(*lead, *lowered.out_sizes)

    def extra_repr(self) -> str:
        return f"signal={self.signal.name}, lowered on {sorted(self._lowered)}"


def _argument_name(layer: nn.Module, signal: str) -> str:
    """The name ``layer.forward`` gives its first input (the signal's own name when it takes
    the signals as ``*inputs``)."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in inspect.signature(layer.forward).parameters.values()
             if p.kind in kinds]
    return names[0] if names else signal


def lower(layer: InteractionLayer) -> SpanLayer:
    """``layer`` (a prodint layer, a layer converted by :func:`prodint.zoo.from_torch`, or
    :func:`prodint.interaction.compile` of an expression) as its span (see the module
    docstring).

    >>> import torch
    >>> from prodint.interaction import compile, library
    >>> dense = compile(library.dense(3, 2), dtype=torch.float64)
    >>> x = torch.randn(4, 5, 3, dtype=torch.float64)
    >>> bool(torch.allclose(lower(dense)(x), dense(x)))
    True

    Raises:
        TypeError: ``layer`` is not an interaction layer.
        ValueError: an expression that is not linear in one signal (the node named).
    """
    return SpanLayer(layer)
