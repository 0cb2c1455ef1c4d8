"""Recurrent layers (Elman RNN, GRU, LSTM) with torch's semantics; gates are products.

One time step is a product interaction of the input ``x_t`` and the state ``h_{t-1}``
(and ``c_{t-1}``): projections, pointwise gates and Hadamard products. Counting both the
input and the state as the signal, the cell's order is 1 for the Elman RNN
(``tanh(W x + U h)``), 3 for the GRU (``(1 − z) ⊙ tanh(W x + r ⊙ U h) + z ⊙ h``) and 3 for
the LSTM (``o ⊙ tanh(f ⊙ c + i ⊙ g)``); unrolling ``T`` steps substitutes the state by the
previous step, which multiplies these orders. ``forward`` projects every input with one
matmul, then loops over time; :meth:`Recurrent.step` advances one token;
:meth:`Recurrent.reference` evaluates the cell expression step by step.

Layouts follow torch: input ``[T, B, C]`` (``[B, T, C]`` with ``batch_first``, ``[T, C]``
unbatched), states ``[layers · directions, B, H]``; weights ``weight_ih_l{k}[_reverse]``
``[G·H, C]`` with torch's gate order (GRU: r, z, n; LSTM: i, f, g, o).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from prodint.algebra import hadamard
from prodint.interaction import (
    Contract,
    Expr,
    Parameter,
    Pointwise,
    Product,
    Rename,
    Scale,
    Signal,
    Sum,
    evaluate,
)
from prodint.zoo.registry import register_converter

GATE_NAMES = {"RNN_TANH": ("h",), "RNN_RELU": ("h",), "GRU": ("r", "z", "n"),
              "LSTM": ("i", "f", "g", "o")}


def cell_expressions(mode: str, inputs: int, hidden: int) -> dict[str, Expr]:
    """The new state of one step over signals ``x[c]``, ``h[k]`` (and ``c[k]``): ``{"h": …}``
    and, for the LSTM, ``"c"`` too.

    Per gate ``a``: ``W_a x + b_a`` (``Wi_a``, ``bi_a``) and ``U_a h + β_a`` (``Wh_a``,
    ``bh_a``); ``1 − σ(u) = σ(−u)`` writes the GRU's ``1 − z``.
    """
    x = Signal("x", [("c", inputs)])
    h = Signal("h", [("k", hidden)])
    had = hadamard(hidden)

    def proj(src: Expr, axis: str, size: int, name: str) -> Expr:
        w = Parameter(f"W{name}", [("j", hidden), (axis, size)], fan_in=(axis,))
        b = Parameter(f"b{name}", [("j", hidden)], init="zeros")
        return Rename(Sum(Contract(src, w, over=axis), b), {"j": "k"})

    def parts(gate: str) -> tuple[Expr, Expr]:
        return proj(x, "c", inputs, f"i_{gate}"), proj(h, "k", hidden, f"h_{gate}")

    def prod(a: Expr, b: Expr) -> Expr:
        return Product(a, b, had, "k")

    if mode in ("RNN_TANH", "RNN_RELU"):
        xi, hi = parts("h")
        return {"h": Pointwise("tanh" if mode == "RNN_TANH" else "relu", Sum(xi, hi))}
    if mode == "GRU":
        (xr, hr), (xz, hz), (xn, hn) = parts("r"), parts("z"), parts("n")
        r = Pointwise("sigmoid", Sum(xr, hr))
        z = Pointwise("sigmoid", Sum(xz, hz))
        keep = Pointwise("sigmoid", Scale(Sum(xz, hz), -1.0))  # 1 − z
        n = Pointwise("tanh", Sum(xn, prod(r, hn)))
        return {"h": Sum(prod(keep, n), prod(z, h))}
    c = Signal("c", [("k", hidden)])
    (xi, hi), (xf, hf), (xg, hg), (xo, ho) = parts("i"), parts("f"), parts("g"), parts("o")
    i, f = Pointwise("sigmoid", Sum(xi, hi)), Pointwise("sigmoid", Sum(xf, hf))
    g, o = Pointwise("tanh", Sum(xg, hg)), Pointwise("sigmoid", Sum(xo, ho))
    c_new = Sum(prod(f, c), prod(i, g))
    return {"h": prod(o, Pointwise("tanh", c_new)), "c": c_new}


class Recurrent(nn.Module):
    """Multi-layer, optionally bidirectional Elman RNN / GRU / LSTM (see module doc)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 bias: bool = True, batch_first: bool = False,
                 bidirectional: bool = False) -> None:
        super().__init__()
        if mode not in GATE_NAMES:
            raise ValueError(f"mode: expected one of {sorted(GATE_NAMES)}, received {mode!r}")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.directions = 2 if bidirectional else 1
        gates = len(GATE_NAMES[mode]) * hidden_size
        bound = hidden_size ** -0.5
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * self.directions
            for suffix in self._suffixes(layer):
                for name, shape in ((f"weight_ih{suffix}", (gates, width)),
                                    (f"weight_hh{suffix}", (gates, hidden_size))):
                    self.register_parameter(name, nn.Parameter(
                        torch.empty(shape).uniform_(-bound, bound)))
                if bias:
                    for name in (f"bias_ih{suffix}", f"bias_hh{suffix}"):
                        self.register_parameter(name, nn.Parameter(
                            torch.empty(gates).uniform_(-bound, bound)))
        self.cell = cell_expressions(mode, input_size, hidden_size)
        self.expression = self.cell["h"]

    @property
    def self_interaction_order(self) -> int:
        """Order of one step, input and state both counted as the signal."""
        return self.expression.self_interaction_order

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.directions == 2 else [])

    def _weights(self, suffix: str) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        p = dict(self.named_parameters())
        return (p[f"weight_ih{suffix}"], p[f"weight_hh{suffix}"],
                p.get(f"bias_ih{suffix}"), p.get(f"bias_hh{suffix}"))

    def _cell(self, gx: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor,
              b_hh: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """One step from the input projection ``gx = W x + b`` (fast path)."""
        gh = h @ w_hh.T
        if b_hh is not None:
            gh = gh + b_hh
        if self.mode == "RNN_TANH":
            return torch.tanh(gx + gh), None
        if self.mode == "RNN_RELU":
            return torch.relu(gx + gh), None
        if self.mode == "GRU":
            xr, xz, xn = gx.chunk(3, -1)
            hr, hz, hn = gh.chunk(3, -1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            return n + z * (h - n), None
        i, f, g, o = (gx + gh).chunk(4, -1)
        assert c is not None
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def _layout(self, x: Tensor) -> tuple[Tensor, bool]:
        if x.dim() not in (2, 3) or x.shape[-1] != self.input_size:
            layout = "[B, T, C]" if self.batch_first else "[T, B, C]"
            raise ValueError(f"input: expected {layout} (or unbatched [T, C]) with C = "
                             f"{self.input_size}, received {tuple(x.shape)}")
        if x.dim() == 2:
            return x.unsqueeze(1), True
        return (x.transpose(0, 1) if self.batch_first else x), False

    def _initial(self, state: Tensor | None, batch: int, like: Tensor, name: str) -> Tensor:
        shape = (self.num_layers * self.directions, batch, self.hidden_size)
        if state is None:
            return like.new_zeros(shape)
        if tuple(state.shape) != shape:
            raise ValueError(f"{name}: expected shape {shape}, received {tuple(state.shape)}")
        return state

    def forward(self, input: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        """``(output, h_n)`` (``(output, (h_n, c_n))`` for the LSTM), as torch returns."""
        x, unbatched = self._layout(input)
        h0, c0 = (hx if isinstance(hx, tuple) else (hx, None))
        if unbatched:
            h0 = None if h0 is None else h0.unsqueeze(1)
            c0 = None if c0 is None else c0.unsqueeze(1)
        batch = x.shape[1]
        h0 = self._initial(h0, batch, x, "hx")
        c0 = self._initial(c0, batch, x, "cx") if self.mode == "LSTM" else None
        finals_h, finals_c = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(self._suffixes(layer)):
                index = layer * self.directions + d
                w_ih, w_hh, b_ih, b_hh = self._weights(suffix)
                seq = x.flip(0) if d == 1 else x
                gx = seq @ w_ih.T  # every time step in one matmul
                if b_ih is not None:
                    gx = gx + b_ih
                h, c = h0[index], None if c0 is None else c0[index]
                steps = []
                for t in range(seq.shape[0]):
                    h, c = self._cell(gx[t], h, c, w_hh, b_hh)
                    steps.append(h)
                out = torch.stack(steps) if steps else seq.new_zeros(0, batch, self.hidden_size)
                outs.append(out.flip(0) if d == 1 else out)
                finals_h.append(h)
                finals_c.append(c)
            x = torch.cat(outs, -1) if len(outs) > 1 else outs[0]
        h_n = torch.stack(finals_h)
        output = x.squeeze(1) if unbatched else (x.transpose(0, 1) if self.batch_first else x)
        if unbatched:
            h_n = h_n.squeeze(1)
        if self.mode != "LSTM":
            return output, h_n
        c_n = torch.stack(finals_c)  # type: ignore[arg-type]
        return output, (h_n, c_n.squeeze(1) if unbatched else c_n)

    def step(self, x: Tensor, state: Tensor | tuple[Tensor, Tensor] | None = None
             ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        """One token ``[B, C]`` → ``(top-layer h [B, H], new state)`` (unidirectional)."""
        if self.directions != 1:
            raise ValueError("bidirectional: streaming needs a unidirectional layer, "
                             "received bidirectional=True")
        out, new = self.forward(x.unsqueeze(1 if self.batch_first else 0), state)
        return out.squeeze(1 if self.batch_first else 0), new

    def reference(self, input: Tensor) -> Tensor:
        """The output of a single-layer, unidirectional layer by evaluating the cell
        expression at every step (zero initial state)."""
        if self.num_layers != 1 or self.directions != 1:
            raise ValueError("reference: defined for one unidirectional layer")
        x, unbatched = self._layout(input)
        w_ih, w_hh, b_ih, b_hh = self._weights("_l0")
        params: dict[str, Tensor] = {}
        gates = len(GATE_NAMES[self.mode])
        zeros = x.new_zeros(w_ih.shape[0])
        chunks = [t.chunk(gates) for t in (w_ih, w_hh, b_ih if b_ih is not None else zeros,
                                           b_hh if b_hh is not None else zeros)]
        for gate, wi, wh, bi, bh in zip(GATE_NAMES[self.mode], *chunks, strict=True):
            params |= {f"Wi_{gate}": wi, f"Wh_{gate}": wh, f"bi_{gate}": bi, f"bh_{gate}": bh}
        h = x.new_zeros(x.shape[1], self.hidden_size)
        c = x.new_zeros(x.shape[1], self.hidden_size)
        outs = []
        for t in range(x.shape[0]):
            inputs = {"x": x[t], "h": h} | ({"c": c} if self.mode == "LSTM" else {})
            if self.mode == "LSTM":
                c = evaluate(self.cell["c"], inputs, params)
            h = evaluate(self.cell["h"], inputs, params)
            outs.append(h)
        out = torch.stack(outs)
        if unbatched:
            return out.squeeze(1)
        return out.transpose(0, 1) if self.batch_first else out


def _convert(module: nn.Module) -> Recurrent:
    mode = {nn.GRU: "GRU", nn.LSTM: "LSTM"}.get(type(module)) or module.mode
    if getattr(module, "proj_size", 0):
        raise ValueError(f"proj_size: expected 0, received {module.proj_size}")
    layer = Recurrent(mode, module.input_size, module.hidden_size, module.num_layers,
                      bias=module.bias, batch_first=module.batch_first,
                      bidirectional=module.bidirectional)
    layer.to(next(module.parameters()).dtype)
    ours = dict(layer.named_parameters())
    for name, value in module.named_parameters():
        ours[name].data.copy_(value.detach())
    return layer


register_converter(nn.RNN, nn.GRU, nn.LSTM)(_convert)
