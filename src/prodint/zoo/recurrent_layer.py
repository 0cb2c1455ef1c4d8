"""The shared machinery of the recurrent layers (:mod:`prodint.zoo.recurrent`): torch's layouts
and checks, the final-state expression, the executions of the layer contract and the orders
along a sequence."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from prodint.algebra import hadamard
from prodint.checks import (
    check_bool,
    check_float,
    check_int,
    check_layer_input,
    check_layer_options,
    check_parameter_memory,
)
from prodint.interaction import Expr, ProductAlgebra, Select, Stack, evaluate
from prodint.interaction.compile import Plan
from prodint.interaction.layer import InteractionLayer
from prodint.zoo import recurrent_cells as cells

HiddenState = Tensor | tuple[Tensor, Tensor]


class RecurrentLayer(InteractionLayer):
    """The shared machinery of :class:`ElmanRNN`, :class:`GRU` and :class:`LSTM`.

    Args:
        input_size: ``C``, features of each input step.
        hidden_size: ``H``, features of the state.
        num_layers: ``L``, stacked layers (layer ``l > 0`` reads layer ``l - 1``'s output).
        bias: whether the projections have biases ``b_ih``, ``b_hh``.
        batch_first: input and output as ``[B, T, ·]`` instead of ``[T, B, ·]``.
        dropout: dropout probability on the outputs of every layer but the last (training).
        bidirectional: also run each layer backwards in time (``D = 2``).
        device, dtype, generator: where the parameters live, their dtype, the random draws.

    Raises:
        TypeError: a size that is not an int, a flag that is not a bool, a bad option; an
            input or state that is not a tensor of the layer's dtype.
        ValueError: a size below 1, ``dropout`` outside ``[0, 1]``, parameters that would
            not fit in memory; an input or state of another shape or device.

    Attributes:
        expression: the stack's product interaction over ``X[t, c]`` and the order-0 initial
            states ``h0_l{l}[_reverse]``; its value is the output ``[t, D·H]``.
        final_state_expression: the last state of every recurrence, ``[n, *state]`` with
            ``n = L·D`` in ``h_n`` order (state ``[h]``, or ``[s=2, h]`` for the LSTM).
        recurrences: the :class:`~prodint.interaction.recurrence.Recurrence` of every layer
            and direction, in ``h_n`` order.
    """

    gates: ClassVar[int]
    states: ClassVar[int] = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        for value, name in ((input_size, "input_size"), (hidden_size, "hidden_size"),
                            (num_layers, "num_layers")):
            check_int(value, name, minimum=1)
        for flag, name in ((bias, "bias"), (batch_first, "batch_first"),
                           (bidirectional, "bidirectional")):
            check_bool(flag, name)
        check_float(dropout, "dropout", minimum=0.0, maximum=1.0)
        check_layer_options(device, dtype, generator)
        directions = 2 if bidirectional else 1
        width = self.gates * hidden_size
        first = (input_size + hidden_size + 2) * width
        deeper = (directions * hidden_size + hidden_size + 2) * width
        check_parameter_memory(directions * (first + (num_layers - 1) * deeper),
                         "input_size, hidden_size, num_layers", dtype)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        # one Hadamard algebra for every gate of the stack: products then compare algebras by
        # identity
        algebra = hadamard(hidden_size)
        expression, recurrences = cells.stacked_expression(
            lambda in_size, sfx: self._cell(in_size, sfx, algebra), input_size, hidden_size,
            num_layers, self.bidirectional, self._state_axes())
        super().__init__(expression, device=device, dtype=dtype, generator=generator)
        self.recurrences = tuple(recurrences)
        self.final_state_expression = Stack([Select(r, r.time, -1) for r in recurrences], "n")
        self._final_plan = Plan(self.final_state_expression)
        self._weight_names = [
            (f"weight_ih{sfx}", f"weight_hh{sfx}", f"bias_ih{sfx}" if bias else None,
             f"bias_hh{sfx}" if bias else None)
            for sfx in (cells.suffix(layer, reverse) for layer in range(num_layers)
                        for reverse in (False, True)[:self.num_directions])]
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """torch's initialisation: every weight and bias ``U(-1/√H, 1/√H)``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.params.values():
            draw = torch.rand(p.shape, dtype=p.dtype, generator=self._generator)
            p.copy_(((draw * 2 - 1) * bound).to(p.device))

    # ------------------------------------------------------------- family hooks
    def _cell(self, in_size: int, sfx: str, algebra: ProductAlgebra) -> Expr:
        """The cell of one layer-direction (``sfx``), gates multiplying in ``algebra``."""
        raise NotImplementedError

    def _state_axes(self) -> list[tuple[str, int]]:
        return [("h", self.hidden_size)]

    def _update(self, k: int) -> cells.Update:
        """The per-step update of layer-direction ``k`` (weights read now)."""
        raise NotImplementedError

    def _projection(self, x: Tensor, k: int) -> Tensor:
        """``gi`` of layer-direction ``k``: ``W_ih x + b_ih + b_hh`` (both biases fold in
        where the cell adds them to the same pre-activation)."""
        w_ih, _, b_ih, b_hh = self._weights(k)
        return cells.input_projection(x, w_ih, None if b_ih is None else b_ih + b_hh)

    # ------------------------------------------------------------- structure
    def output_orders(self, length: int) -> list[int]:
        """The exact order of the output at every step ``t < length`` of a sequence.

        Each recurrence applies its cell's order rule step by step
        (:meth:`~prodint.interaction.recurrence.Recurrence.state_orders`) to the orders of the
        layer below at every step (a backward direction reads them from the end); the two
        directions' outputs are concatenated, so the order at ``t`` is their ``max``. Elman
        layers stay at 1; a GRU's orders are ``2·3^t``, an LSTM's ``3^(t+1)`` (one layer).
        """
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise ValueError(f"length: expected a positive int, received {length!r}")
        profile = [1] * length  # the input X has order 1 at every step
        for layer in range(self.num_layers):
            directions = []
            for d in range(self.num_directions):
                rec = self.recurrences[layer * self.num_directions + d]
                steps = profile[::-1] if d else profile
                orders = rec.state_orders(length, step_orders=steps)
                directions.append(orders[::-1] if d else orders)
            profile = [max(column) for column in zip(*directions, strict=True)]
        return profile

    def order_at(self, length: int) -> int:
        """The order of the output on a sequence of ``length`` steps (:meth:`output_orders`)."""
        return max(self.output_orders(length))

    def _weights(self, k: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        names = self._weight_names[k]
        return tuple(None if n is None else self.param(n) for n in names)  # type: ignore

    def extra_repr(self) -> str:
        extra = [f"{self.input_size}, {self.hidden_size}", f"num_layers={self.num_layers}"]
        extra += [f"{n}={getattr(self, n)}" for n in ("bias", "batch_first", "dropout",
                                                      "bidirectional")]
        return ", ".join(extra) + f", order={self.self_interaction_order}"

    # ------------------------------------------------------------- checks
    def _check_input(self, input: object, argument: str = "input") -> tuple[Tensor, bool]:
        """``input`` as ``[T, B, C]`` and whether it came batched (``argument`` names it)."""
        layout = "[B, T, C]" if self.batch_first else "[T, B, C]"
        check_layer_input(input, argument, self.param("weight_ih_l0"), rank=(2, 3),
                    layout=f"{layout} or unbatched [T, C]")
        assert isinstance(input, Tensor)
        if input.shape[-1] != self.input_size:
            shown = layout if input.dim() == 3 else "[T, C]"
            raise ValueError(f"{argument}: expected {shown} with C = input_size = "
                             f"{self.input_size}, received shape {tuple(input.shape)}")
        batched = input.dim() == 3
        x = input if batched else input.unsqueeze(1)
        x = x.transpose(0, 1) if batched and self.batch_first else x
        if x.shape[0] == 0:
            raise ValueError(f"{argument}: expected at least one time step, received shape "
                             f"{tuple(input.shape)}")
        return x, batched

    def _check_state(self, value: object, argument: str, batch: int, batched: bool,
                     layers: int, source: str) -> Tensor:
        shape = (layers, batch, self.hidden_size) if batched else (layers, self.hidden_size)
        check_layer_input(value, argument, self.param("weight_ih_l0"))
        assert isinstance(value, Tensor)
        if tuple(value.shape) != shape:
            raise ValueError(f"{argument}: expected shape {shape} (layers·directions, "
                             f"{'batch of ' + source + ', ' if batched else ''}hidden_size; "
                             f"{'batched' if batched else 'unbatched'} as {source}), received "
                             f"{tuple(value.shape)}")
        return value if batched else value.unsqueeze(1)

    def _initial(self, hx: HiddenState | None, batch: int, batched: bool, layers: int,
                 like: Tensor, names: tuple[str, str] = ("hx", "input")) -> tuple[Tensor, ...]:
        """Initial states as ``[L·D, B, H]`` tensors (one, or ``(h, c)`` for the LSTM);
        ``names`` are the state's and the input's argument names, for messages."""
        state, source = names
        if hx is None:
            zeros = like.new_zeros(layers, batch, self.hidden_size)
            return (zeros,) * self.states
        if self.states == 1:
            return (self._check_state(hx, state, batch, batched, layers, source),)
        if not isinstance(hx, tuple) or len(hx) != 2:
            raise TypeError(f"{state}: expected a pair (h_0, c_0), received "
                            f"{type(hx).__name__}")
        return (self._check_state(hx[0], f"{state}[0] (h_0)", batch, batched, layers, source),
                self._check_state(hx[1], f"{state}[1] (c_0)", batch, batched, layers, source))

    def _finish(self, output: Tensor, finals: tuple[Tensor, ...], batched: bool,
                ) -> tuple[Tensor, HiddenState]:
        if not batched:
            output, finals = output.squeeze(1), tuple(f.squeeze(1) for f in finals)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, (finals[0] if self.states == 1 else finals)  # type: ignore[return-value]

    # ------------------------------------------------------------- paths
    def _native(self, x: Tensor, states: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """torch's fused kernel on ``x: [T, B, C]``: ``(output, *finals)``."""
        raise NotImplementedError

    def _flat_weights(self) -> list[Tensor]:
        """Parameters in torch's flat order: per layer and direction ``w_ih, w_hh, b_ih, b_hh``."""
        return [self.param(n) for names in self._weight_names for n in names if n]

    def _native_args(self) -> tuple[list[Tensor], bool, int, float, bool, bool, bool]:
        """The arguments torch's fused kernels take after the input and the state."""
        return (self._flat_weights(), self.bias, self.num_layers, self.dropout, self.training,
                self.bidirectional, False)

    def forward(self, input: Tensor, hx: HiddenState | None = None,
                ) -> tuple[Tensor, HiddenState]:
        """``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``) with torch's shapes (module doc),
        computed by torch's fused kernel (equal to :meth:`general` and :meth:`reference`)."""
        x, batched = self._check_input(input)
        states = self._initial(hx, x.shape[1], batched, self.num_layers * self.num_directions,
                               x)
        output, *finals = self._native(x, states)
        return self._finish(output, tuple(finals), batched)

    def general(self, input: Tensor, hx: HiddenState | None = None,  # type: ignore[override]
                ) -> tuple[Tensor, HiddenState]:
        """``forward``'s results by the compiled expressions (output and final states)."""
        return self._expressions("plan", input, hx)

    def reference(self, input: Tensor, hx: HiddenState | None = None,  # type: ignore[override]
                  ) -> tuple[Tensor, HiddenState]:
        """``forward``'s results by evaluating the expressions node by node."""
        return self._expressions("reference", input, hx)

    def _expressions(self, path: str, input: Tensor, hx: HiddenState | None,
                     ) -> tuple[Tensor, HiddenState]:
        """:attr:`expression` and :attr:`final_state_expression` by the plan or the reference.

        Each runs the stack's recurrences (a check path: ``forward`` is the fast one)."""
        x, batched = self._check_input(input)
        states = self._initial(hx, x.shape[1], batched, len(self.recurrences), x)
        signals = {"X": x.transpose(0, 1)}
        for k, rec in enumerate(self.recurrences):
            h0 = states[0][k] if self.states == 1 else torch.stack([s[k] for s in states], 1)
            signals[rec.initial.name] = h0  # type: ignore[union-attr]
        if path == "plan":
            output = self.run_plan(**signals)
            bound = self._final_plan.bind((), signals)
            last = self._final_plan.run(bound, self.params, self.tables())
        else:
            output = self.run_reference(**signals)
            last = evaluate(self.final_state_expression, signals, dict(self.params),
                            self.tables())
        # last: [B, n, H] or [B, n, s=2, H]
        finals = tuple((last if self.states == 1 else last[:, :, i]).transpose(0, 1)
                       for i in range(self.states))
        return self._finish(output.transpose(0, 1), finals, batched)

    def oracle(self, input: Tensor, hx: HiddenState | None = None,  # type: ignore[override]
               ) -> tuple[Tensor, HiddenState]:
        """``forward``'s results by prodint's own loop over time (no native kernel)."""
        x, batched = self._check_input(input)
        states = self._initial(hx, x.shape[1], batched, len(self.recurrences), x)
        finals: list[tuple[Tensor, ...]] = []
        for layer in range(self.num_layers):
            outputs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                out, final = cells.run_direction(self._projection(x, k),
                                                 tuple(s[k] for s in states), self._update(k),
                                                 reverse=d == 1)
                outputs.append(out)
                finals.append(final)
            x = outputs[0] if len(outputs) == 1 else torch.cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        stacked = tuple(torch.stack([f[i] for f in finals]) for i in range(self.states))
        return self._finish(x, stacked, batched)

    def step(self, x: Tensor, state: HiddenState | None = None,
             ) -> tuple[Tensor, HiddenState]:
        """One time step for streaming: ``x: [B, C]`` (or ``[C]``) ↦ ``(y [B, H], state)``.

        ``state`` is the previous step's (``None`` for zeros) with ``forward``'s ``h_n``
        shapes; running ``step`` over the tokens of a sequence reproduces ``forward``'s outputs
        and final state. Needs ``bidirectional=False``: a backward direction reads the future.
        """
        if self.bidirectional:
            raise ValueError("step: streaming needs bidirectional=False, received a "
                             "bidirectional layer")
        check_layer_input(x, "x", self.param("weight_ih_l0"), rank=(1, 2),
                    layout=f"[B, {self.input_size}] or [{self.input_size}] (one step)")
        time_dim = 1 if x.dim() == 2 and self.batch_first else 0
        seq, batched = self._check_input(x.unsqueeze(time_dim), "x")
        states = self._initial(state, seq.shape[1], batched, self.num_layers, seq,
                               ("state", "x"))
        inp, new = seq[0], []
        for k in range(self.num_layers):
            s = self._update(k)(self._projection(inp, k), tuple(t[k] for t in states))
            new.append(s)
            inp = s[0]
            if self.dropout and self.training and k < self.num_layers - 1:
                inp = F.dropout(inp, self.dropout, True)
        stacked = tuple(torch.stack([s[i] for s in new]) for i in range(self.states))
        y, out_state = self._finish(inp.unsqueeze(0), stacked, batched)
        return y.squeeze(time_dim), out_state
