"""Equivariant linear maps and pointwise nonlinearities on irrep-typed features.

By Schur's lemma the equivariant linear maps ``V_{l,p} → V_{l',p'}`` are zero unless
``(l, p) = (l', p')`` and multiples of the identity otherwise (the solver finds a
one-dimensional null space spanned by ``I / sqrt(2l+1)``; the tests check this). So an
equivariant linear map between layouts mixes multiplicities only:

    out[o: w, k] = Σ_{blocks i with ir_i = ir_o} Σ_u W_io[u, w] x[i: u, k] / sqrt(fan_in(o)) + b

with ``fan_in(o) = Σ mul_i`` over those blocks and a bias ``b`` on even scalars (``0e``) only
(a bias on any other irrep would break equivariance). It is a product interaction of order 1:
per block pair, the input block (a tie of the flat input, :func:`~prodint.symmetry.blocks.
block`) contracted with its slice of the flat weight (a tie of ``params.W`` weighted by
``1/sqrt(fan_in(o))``), placed into the output block (:func:`~prodint.symmetry.blocks.place`).

:class:`NormActivation` is a pointwise nonlinearity of the features' invariant norms, not a
product interaction layer: the expression language has no norm, so it states no expression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from prodint.checks import (
    check_bool,
    check_float,
    check_layer_input,
    check_layer_options,
    check_parameter_memory,
    check_tensor,
)
from prodint.interaction import Contract, Expr, Gather, Parameter, Signal, Sum
from prodint.interaction.layer import InteractionLayer
from prodint.symmetry.blocks import block, place
from prodint.symmetry.irreps import Irrep, Irreps, as_irreps

__all__ = ["Linear", "NormActivation", "layer_tensor"]

_EVEN_SCALAR = Irrep(0, 1)


def linear_expression(irreps_in: Irreps, irreps_out: Irreps,
                      pairs: Sequence[tuple[int, int, slice]], fan_in: Sequence[int],
                      bias: int) -> Expr:
    """``out[o: w, k] = Σ_{i → o} Σ_u X[i: u, k] W_io[u, w] / sqrt(fan_in(o)) (+ b)``, order 1.

    ``W_io`` are ties of the flat ``params.W`` (weighted by ``1/sqrt(fan_in(o))``), ``b`` the
    ``bias`` even scalars placed at the ``0e`` output coordinates.
    """
    x = Signal("X", [("a", irreps_in.dim)])
    blocks: dict[int, Expr] = {}
    terms: dict[int, list[Expr]] = {}
    # N(0, 1); the parameter enters the expression only through the pairs' ties
    w = Parameter("W", [("q", pairs[-1][2].stop if pairs else 1)])
    for n, (i, o, span) in enumerate(pairs):
        blocks.setdefault(i, block(x, irreps_in, i, f"x{i}", ("u", "k")))
        shape = (irreps_in[i][0], irreps_out[o][0])
        scale = torch.full(shape, 1.0 / math.sqrt(fan_in[o]), dtype=torch.float64)
        w_io = Gather(w, f"w{n}", torch.arange(span.start, span.stop).view(shape),
                      [("u", shape[0]), ("w", shape[1])], weight=scale)
        terms.setdefault(o, []).append(Contract(blocks[i], w_io, over="u"))  # [k, w]
    if terms:
        y: Expr = place({o: t[0] if len(t) == 1 else Sum(*t) for o, t in terms.items()},
                        irreps_out, "c", "out", ("w", "k"))
    else:  # no irrep in common: the only equivariant linear map is zero
        zeros = torch.zeros(irreps_out.dim)
        y = Gather(x, "zero", zeros.long(), [("c", irreps_out.dim)], weight=zeros.double())
    if bias:
        index = torch.zeros(irreps_out.dim, dtype=torch.long)
        mask = torch.zeros(irreps_out.dim, dtype=torch.float64)
        start = 0
        for (mul, ir), sl in zip(irreps_out, irreps_out.slices(), strict=True):
            if ir == _EVEN_SCALAR:
                index[sl] = torch.arange(start, start + mul)
                mask[sl] = 1.0
                start += mul
        b = Parameter("b", [("s", bias)], init="zeros")
        y = Sum(y, Gather(b, "bias", index, [("c", irreps_out.dim)], weight=mask))
    return y


def layer_tensor(layer: InteractionLayer) -> Tensor:
    """A floating tensor of ``layer`` (a parameter, else a fixed table): its dtype and device
    are those its inputs must have."""
    for t in (*layer.params.values(), *layer.tables().values()):
        if t.is_floating_point():
            return t
    raise ValueError(f"layer: expected a layer with a floating parameter or table, received "
                     f"{type(layer).__name__}")


class Linear(InteractionLayer):
    """Equivariant linear map ``irreps_in → irreps_out`` (module doc).

    Args:
        irreps_in, irreps_out: layouts.
        bias: learn a bias on the ``0e`` output blocks.
        device, dtype, generator: as :class:`~prodint.interaction.layer.InteractionLayer`.

    Attributes:
        pairs: ``(input block, output block, slice of params.W)`` for every matching pair.
        params.W: flat ``[Σ mul_i mul_o]`` over the matching block pairs, ``N(0, 1)``.
        params.b: ``[Σ_{0e blocks} mul_o]`` zeros (when ``bias`` and there is a ``0e``
            output).

    Shapes: ``[..., irreps_in.dim] → [..., irreps_out.dim]``.

    Raises:
        TypeError: a layout or flag of the wrong kind, a bad option; an input that is not a
            tensor of the layer's dtype.
        ValueError: a malformed or empty layout, parameters that would not fit in memory; an
            input of another shape or device.
    """

    def __init__(self, irreps_in: Irreps | str, irreps_out: Irreps | str,
                 bias: bool = False, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        self.irreps_in = as_irreps(irreps_in, "irreps_in", empty=False)
        self.irreps_out = as_irreps(irreps_out, "irreps_out", empty=False)
        check_bool(bias, "bias")
        check_layer_options(device, dtype, generator)
        check_parameter_memory(sum(m_i * m_o for m_o, ir_o in self.irreps_out
                             for m_i, ir_i in self.irreps_in if ir_i == ir_o)
                         + self.irreps_out.dim, "irreps_in, irreps_out", dtype,
                         tables=2 * (self.irreps_in.dim + self.irreps_out.dim))
        self.pairs: list[tuple[int, int, slice]] = []
        start = 0
        for o, (mul_o, ir_o) in enumerate(self.irreps_out):
            for i, (mul_i, ir_i) in enumerate(self.irreps_in):
                if ir_i == ir_o and mul_i and mul_o:
                    self.pairs.append((i, o, slice(start, start + mul_i * mul_o)))
                    start += mul_i * mul_o
        self.fan_in = [sum(self.irreps_in[i][0] for i, oo, _ in self.pairs if oo == o)
                       for o in range(len(self.irreps_out))]
        n_bias = sum(mul for mul, ir in self.irreps_out if ir == _EVEN_SCALAR) if bias else 0
        super().__init__(linear_expression(self.irreps_in, self.irreps_out, self.pairs,
                                           self.fan_in, n_bias),
                         device=device, dtype=dtype, generator=generator)

    def _check(self, x: Tensor) -> None:
        check_layer_input(x, "x", layer_tensor(self))
        self.irreps_in.check(x, "x")

    def forward(self, x: Tensor) -> Tensor:
        """One ``[B·(2l+1), mul_in] @ [mul_in, mul_out]`` matmul per block pair."""
        self._check(x)
        lead = x.shape[:-1]
        x = x.reshape(-1, x.shape[-1])
        batch = x.shape[0]
        ins = [x[:, sl].reshape(batch, mul, ir.dim).transpose(1, 2)
               for (mul, ir), sl in zip(self.irreps_in, self.irreps_in.slices(), strict=True)]
        outs: list[Tensor | None] = [None] * len(self.irreps_out)
        for i, o, sl in self.pairs:
            w = self.params["W"][sl].view(self.irreps_in[i][0], self.irreps_out[o][0]) \
                / math.sqrt(self.fan_in[o])
            term = ins[i] @ w  # [B, 2l+1, mul_out]
            prev = outs[o]
            outs[o] = term if prev is None else prev + term
        blocks, b = [], 0
        for (mul, ir), out in zip(self.irreps_out, outs, strict=True):
            block_ = x.new_zeros(batch, ir.dim, mul) if out is None else out
            if self.has_param("b") and ir == _EVEN_SCALAR:
                block_ = block_ + self.params["b"][b:b + mul]
                b += mul
            blocks.append(block_.transpose(1, 2).reshape(batch, mul * ir.dim))
        out = torch.cat(blocks, -1) if blocks else x.new_zeros(batch, 0)
        return out.reshape(*lead, self.irreps_out.dim)

    def general(self, x: Tensor) -> Tensor:
        """The compiled expression."""
        self._check(x)
        return self.run_plan(x)

    def reference(self, x: Tensor) -> Tensor:
        """The expression evaluated node by node."""
        self._check(x)
        return self.run_reference(x)

    def extra_repr(self) -> str:
        return (f"{self.irreps_in} → {self.irreps_out}, bias={self.has_param('b')}, "
                f"{super().extra_repr()}")


class NormActivation(nn.Module):
    """Equivariant pointwise nonlinearity on a layout.

    - ``0e`` channels: ``silu(x)``; ``0o`` channels: ``tanh(x)`` (odd, so the sign flip of
      a pseudoscalar under inversion commutes with it);
    - ``l > 0`` channels: ``x · sigmoid(|x| + b)`` with the invariant norm
      ``|x| = sqrt(Σ_k x_k² + ε)`` per channel and a learned bias ``b`` per channel.

    Shapes: ``[..., irreps.dim] → [..., irreps.dim]``.

    Raises:
        TypeError, ValueError: a malformed or empty layout, ``eps`` not a finite number
            ``>= 0`` (a negative one takes the square root of a negative number); an input
            that is not a floating tensor ``[..., irreps.dim]``.
    """

    def __init__(self, irreps: Irreps | str, eps: float = 1e-12) -> None:
        super().__init__()
        self.irreps = as_irreps(irreps, "irreps", empty=False)
        self.eps = check_float(eps, "eps", minimum=0.0)
        n_bias = sum(mul for mul, ir in self.irreps if ir.l > 0)
        self.bias = nn.Parameter(torch.zeros(n_bias))

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "x", layout=f"[..., {self.irreps.dim}]")
        self.irreps.check(x, "x")
        blocks, b = [], 0
        for (mul, ir), sl in zip(self.irreps, self.irreps.slices(), strict=True):
            block = x[..., sl]
            if ir.l == 0:
                blocks.append(torch.nn.functional.silu(block) if ir.p == 1
                              else torch.tanh(block))
                continue
            v = block.reshape(*block.shape[:-1], mul, ir.dim)
            norm = torch.sqrt((v * v).sum(-1, keepdim=True) + self.eps)
            gate = torch.sigmoid(norm + self.bias[b:b + mul, None].to(x.dtype))
            blocks.append((v * gate).reshape(block.shape))
            b += mul
        return torch.cat(blocks, -1)
