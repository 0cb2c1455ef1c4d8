"""Training in the sparse-matrix form: :class:`SparseLayer` and :func:`sparsify`.

A linear layer on inputs of a given shape is ``y = M(w) x + b(w)`` with ``M`` a sparse
matrix whose pattern is fixed by the layer's span and whose values are functions of the
parameters ``w`` (:class:`~prodint.sparse.pattern.SparsePattern`). :class:`SparseLayer`
executes a layer that way, a CSR product per call with the values rebuilt from the current
parameters (:meth:`~prodint.sparse.pattern.SparsePattern.apply`, differentiated by CSR
products), so training updates the layer's own parameters through the sparse matrix.
:func:`sparsify` swaps every linear layer of a model for its sparse form: the source's claim
that the sparse formulations train as the native layers do can then be checked on one model
with one seed and one data order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from prodint.checks import check_instance
from prodint.interaction import InteractionLayer
from prodint.spans import SpanLayer
from prodint.spans.lowering import check_linear
from prodint.sparse.pattern import SparsePattern

__all__ = ["SparseLayer", "sparsify"]


class SparseLayer(SpanLayer):
    """A linear :class:`~prodint.interaction.InteractionLayer` executed as a CSR matrix
    product ``y = M x + b`` (see the module docstring); the layer's parameters are shared.

    Raises:
        TypeError: ``layer`` is not an interaction layer.
        ValueError: its expression is not linear in one signal (the node named).
    """

    def __init__(self, layer: InteractionLayer) -> None:
        super().__init__(layer)
        self._patterns: dict[tuple[tuple[int, ...], torch.dtype, torch.device],
                             SparsePattern] = {}

    def pattern(self, sizes: Sequence[int], dtype: torch.dtype = torch.float64,
                device: torch.device | str = "cpu") -> SparsePattern:
        """The CSR pattern of the layer on signal sizes ``sizes`` (built once)."""
        key = (tuple(int(s) for s in sizes), dtype, torch.device(device))
        if key not in self._patterns:
            self._patterns[key] = SparsePattern(self.lowered(key[0]).span(dtype, key[2]))
        return self._patterns[key]

    def forward(self, *inputs: Tensor, **named: Tensor) -> Tensor:
        """``layer(x)`` as ``M @ x + b`` (inputs checked as the layer checks them)."""
        x, lowered, w, bias = self.prepare(inputs, named)
        pattern = self.pattern(lowered.in_sizes, x.dtype, x.device)
        lead = x.shape[:x.dim() - len(self.signal.axes)]
        flat = x.reshape(math.prod(lead), lowered.in_size)
        y = pattern.apply(w, flat)
        if bias is not None:
            y = y + bias
        return y.reshape(*lead, *lowered.out_sizes)


def sparsify(model: nn.Module) -> nn.Module:
    """``model`` with every linear interaction layer replaced, in place, by its
    :class:`SparseLayer` (the parameters are the same tensors, so an optimiser built before
    or after trains the same ones). Layers that are not linear are kept; a model that is
    itself a linear layer is returned as its sparse form.

    Raises:
        TypeError: ``model`` is not a module.
    """
    check_instance(model, "model", nn.Module)
    if isinstance(model, SpanLayer):
        return model
    if isinstance(model, InteractionLayer):
        # a layer runs its own expression, not its children: it is swapped whole or kept
        try:
            check_linear(model.expression)
        except ValueError:
            return model
        return SparseLayer(model)
    for name, child in list(model.named_children()):
        setattr(model, name, sparsify(child))
    return model
