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

from collections.abc import Sequence

from torch import Tensor, nn

from prodint.checks import check_instance
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
        self._lowered: dict[tuple[int, ...], LoweredExpression] = {}
        fixed = [a.size for a in self.signal.axes]
        if None not in fixed:
            self.lowered(fixed)  # type: ignore[arg-type]

    def lowered(self, sizes: Sequence[int]) -> LoweredExpression:
        """The expression lowered on the signal sizes ``sizes`` (built once per sizes)."""
        key = tuple(int(s) for s in sizes)
        if key not in self._lowered:
            self._lowered[key] = lower_expression(self.layer.expression, key,
                                                  argument=self.signal.name)
        return self._lowered[key]

    def span(self, sizes: Sequence[int] | None = None) -> Span:
        """The float64 span on the signal sizes ``sizes`` (the fixed ones by default)."""
        if sizes is None:
            sizes = [a.size for a in self.signal.axes]  # type: ignore[misc]
        return self.lowered(sizes).span()  # type: ignore[arg-type]

    def coefficients(self, sizes: Sequence[int], like: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(w, bias)`` of the span on ``sizes`` from the layer's current parameters."""
        return self.lowered(sizes).coefficients(dict(self.layer.params.items()),
                                                self.layer.tables(), like)

    def forward(self, *inputs: Tensor, **named: Tensor) -> Tensor:
        """``layer(x)`` computed by the span (inputs checked as the layer checks them)."""
        layer = self.layer
        like = layer._like()
        x = layer._plan.bind(inputs, named, like=like)[self.signal.name]
        k = len(self.signal.axes)
        sizes = tuple(x.shape[x.dim() - k:])
        lowered = self.lowered(sizes)
        reference = like[1] if like is not None else x
        w, bias = self.coefficients(sizes, reference)
        lead = x.shape[:x.dim() - k]
        y = lowered.span(x.dtype, x.device)(w, x.reshape(*lead, lowered.in_size))
        if bias is not None:
            y = y + bias
        return y.reshape(*lead, *lowered.out_sizes)

    def extra_repr(self) -> str:
        return f"signal={self.signal.name}, lowered on {sorted(self._lowered)}"


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
