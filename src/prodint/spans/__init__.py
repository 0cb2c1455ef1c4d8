"""Linear layers as parametric spans (Bergomi and Vertechi).

A linear layer from ``X`` to ``Y`` with parameters in ``W`` is a span
``X <-s- E -t-> Y`` with a parameter map ``pi: E -> W`` and weights ``nu: E -> R``:

    ``y[t_e] += nu_e * w[pi_e] * x[s_e]``  summed over ``e in E``,

or, with blocks (channel mixing), ``y[t_e, :] += nu_e * x[s_e, :] @ w[pi_e]`` for
``w [|W|, c_in, c_out]``. The layer is a gather (along ``s``), a multiply (by ``w`` gathered
along ``pi``) and a scatter (along ``t``). Its derivatives are the same span with the legs
permuted: the gradient in ``x`` is the span ``Y <-t- E -s-> X`` (the transpose) applied to
the gradient of ``y``, and the gradient in ``w`` is the span with ``pi`` as its target,
``grad_w[p] = sum_{pi_e = p} nu_e x[s_e] grad_y[t_e]``. Composing two layers is the span over
the pullback ``E1 x_Y E2``.

- :class:`Span`: the span, its application (batched, with an autograd function computed by
  spans), :meth:`Span.transpose`, :meth:`Span.compose` and :meth:`Span.to_dense`.
- Constructors (:mod:`prodint.spans.constructors`): :func:`dense`, :func:`conv` (any
  dimension, stride, padding, dilation), :func:`conv_transpose`, grouped convolutions by
  :func:`grouped_weight` (block form) and :func:`depthwise` (scalar form), :func:`graph`
  (edge types, mean and symmetric normalisation), :func:`group_conv` (finite groups) and
  :func:`from_algebra` (structure constants: ``span(a, x) = a * x``).
- :func:`lower`: any layer linear in its signal (its expression read node by node:
  :mod:`prodint.spans.lowering`) as a :class:`SpanLayer` with the layer's call signature.
"""

from prodint.spans.constructors import (
    conv,
    conv_transpose,
    dense,
    depthwise,
    from_algebra,
    graph,
    group_conv,
    grouped_weight,
)
from prodint.spans.layer import SpanLayer, lower
from prodint.spans.span import Span

__all__ = [
    "Span",
    "SpanLayer",
    "conv",
    "conv_transpose",
    "dense",
    "depthwise",
    "from_algebra",
    "graph",
    "group_conv",
    "grouped_weight",
    "lower",
]
