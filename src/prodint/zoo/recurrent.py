"""Recurrent layers — Elman RNN, GRU, LSTM — as state recurrences of product interactions.

Each layer is a stack of :class:`~prodint.interaction.recurrence.Recurrence` nodes whose cells
(:mod:`prodint.zoo.recurrent_cells`) gate with Hadamard products; torch's conventions hold
throughout: ``input: [T, B, C]`` (``[B, T, C]`` with ``batch_first``, or unbatched
``[T, C]``), initial state ``[L·D, B, H]`` (``L`` layers, ``D = 2`` if bidirectional), and
every path returns ``(output [T, B, D·H], h_n [L·D, B, H])`` — for the LSTM
``(output, (h_n, c_n))``. Parameters carry torch's names and layouts (``params.weight_ih_l0``
in a state dict, the layer contract's scheme), so :func:`~prodint.zoo.from_torch` copies
torch's tensors as they are.

The layer contract (:class:`~prodint.interaction.layer.InteractionLayer`), all paths equal to
rounding:

- ``forward``: torch's fused kernels (``torch.lstm``, ``torch.gru``,
  ``torch.rnn_tanh``/``torch.rnn_relu``, fed this module's own parameters in torch's flat
  order);
- :meth:`~RecurrentLayer.general`: the compiled expression (each recurrence's unrolled
  kernel), with the final states read from :attr:`~RecurrentLayer.final_state_expression`;
- :meth:`~RecurrentLayer.reference`: both expressions evaluated node by node;
- :meth:`~RecurrentLayer.oracle`: prodint's own loop, which projects every input step of a
  layer with one matmul and then runs over time with only the state's matmul and the gate
  arithmetic;
- :meth:`~RecurrentLayer.step`: one token for streaming (unidirectional layers only: a
  backward direction needs the future).

Dropout between layers (``dropout > 0``) acts in training mode in ``forward`` (the same masks
as torch from the same seed), the oracle and ``step``; the expressions are the
evaluation-mode function.

Orders: ``self_interaction_order`` is the per-step order of the stack (its expression's:
one step with the state counted as its input, so layers multiply: GRU and LSTM 3 per layer,
Elman 1); :meth:`~RecurrentLayer.output_orders` gives the exact order of the output at every
time step of a sequence, which grows with the length for the gated cells (see
:class:`~prodint.interaction.recurrence.Recurrence`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from prodint.checks import check_choice
from prodint.interaction import Expr, ProductAlgebra
from prodint.zoo import recurrent_cells as cells
from prodint.zoo.recurrent_layer import HiddenState, RecurrentLayer
from prodint.zoo.registry import copy_from, register_converter

__all__ = ["GRU", "LSTM", "ElmanRNN", "HiddenState", "RecurrentLayer"]


class ElmanRNN(RecurrentLayer):
    """Elman RNN, ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, ``act`` = ``tanh`` or
    ``relu`` (``nonlinearity``); torch's ``nn.RNN``. Step order 1."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        check_choice(nonlinearity, "nonlinearity", ("tanh", "relu"))
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype, generator=generator)

    def _cell(self, in_size: int, sfx: str, algebra: ProductAlgebra) -> Expr:
        del algebra  # no gates
        return cells.elman_cell(in_size, self.hidden_size, sfx, bias=self.bias,
                                nonlinearity=self.nonlinearity)

    def _native(self, x: Tensor, states: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        kernel = torch.rnn_relu if self.nonlinearity == "relu" else torch.rnn_tanh
        return kernel(x, states[0], *self._native_args())

    def _update(self, k: int) -> cells.Update:
        return cells.elman_update(self._weights(k)[1].t().contiguous(),
                                  self.nonlinearity == "relu")

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity}"


class GRU(RecurrentLayer):
    """Gated recurrent unit (torch's ``nn.GRU``; gate blocks ``r, z, n``). Step order 3:
    ``h' = n + z ⊙ (h - n)`` with ``n`` holding ``r ⊙ (W_hn h + b_hn)``; the gates read
    ``h``, so the states' orders triple every step (``2·3^t``, :meth:`output_orders`)."""

    gates = 3

    def _cell(self, in_size: int, sfx: str, algebra: ProductAlgebra) -> Expr:
        return cells.gru_cell(in_size, self.hidden_size, sfx, bias=self.bias, algebra=algebra)

    def _native(self, x: Tensor, states: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return torch.gru(x, states[0], *self._native_args())

    def _projection(self, x: Tensor, k: int) -> Tensor:
        # b_hn sits inside r ⊙ (W_hn h + b_hn): only the r, z blocks of b_hh fold in
        w_ih, _, b_ih, b_hh = self._weights(k)
        if b_ih is None:
            return cells.input_projection(x, w_ih, None)
        h2 = 2 * self.hidden_size
        return cells.input_projection(x, w_ih, torch.cat([b_ih[:h2] + b_hh[:h2], b_ih[h2:]]))

    def _update(self, k: int) -> cells.Update:
        _, w_hh, _, b_hh = self._weights(k)
        return cells.gru_update(w_hh.t().contiguous(),
                                None if b_hh is None else b_hh[2 * self.hidden_size:],
                                self.hidden_size)


class LSTM(RecurrentLayer):
    """Long short-term memory (torch's ``nn.LSTM`` without projections; gate blocks
    ``i, f, g, o``). The state is the pair ``(h, c)``, stacked on an axis ``s`` in the
    expression. Step order 3: ``h' = o ⊙ tanh(f ⊙ c + i ⊙ g)``; the gates read ``h``, so the
    states' orders triple every step (``3^(t+1)``, :meth:`output_orders`)."""

    gates = 4
    states = 2

    def _cell(self, in_size: int, sfx: str, algebra: ProductAlgebra) -> Expr:
        return cells.lstm_cell(in_size, self.hidden_size, sfx, bias=self.bias, algebra=algebra)

    def _state_axes(self) -> list[tuple[str, int]]:
        return [("s", 2), ("h", self.hidden_size)]

    def _native(self, x: Tensor, states: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return torch.lstm(x, states, *self._native_args())

    def _update(self, k: int) -> cells.Update:
        return cells.lstm_update(self._weights(k)[1].t().contiguous(), self.hidden_size)


# --------------------------------------------------------------------------- converters
def _common(module: nn.RNNBase) -> dict[str, object]:
    weight = module.weight_ih_l0
    return {"num_layers": module.num_layers, "bias": module.bias,
            "batch_first": module.batch_first, "dropout": module.dropout,
            "bidirectional": module.bidirectional, "device": weight.device,
            "dtype": weight.dtype}


def _finish_conversion(layer: RecurrentLayer, module: nn.RNNBase) -> RecurrentLayer:
    return copy_from(layer, module, **dict(module.named_parameters()))


@register_converter(nn.RNN)
def _from_rnn(module: nn.RNN) -> ElmanRNN:
    layer = ElmanRNN(module.input_size, module.hidden_size,
                     nonlinearity=module.nonlinearity, **_common(module))  # type: ignore[arg-type]
    return _finish_conversion(layer, module)  # type: ignore[return-value]


@register_converter(nn.GRU)
def _from_gru(module: nn.GRU) -> GRU:
    layer = GRU(module.input_size, module.hidden_size, **_common(module))  # type: ignore[arg-type]
    return _finish_conversion(layer, module)  # type: ignore[return-value]


@register_converter(nn.LSTM)
def _from_lstm(module: nn.LSTM) -> LSTM:
    if module.proj_size > 0:
        raise ValueError(f"module: LSTM option proj_size={module.proj_size} is not supported; "
                         "expected proj_size=0")
    layer = LSTM(module.input_size, module.hidden_size, **_common(module))  # type: ignore[arg-type]
    return _finish_conversion(layer, module)  # type: ignore[return-value]
