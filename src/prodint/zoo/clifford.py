"""Clifford linear and convolution layers: the order-1 product in ``Cl(p, q, r)``, one matmul.

A multivector-valued signal has ``n = 2^m`` real coordinates per channel (``m`` generators),
one per basis blade. The layers compute, per output channel ``o`` and output blade ``c``,

    y[o, c] = Σ_i Σ_{a,b} Γ[a, b, c] · x[i, a] ⋆ w[b, o, i] + bias[c, o]

with ``Γ`` the structure constants of the Clifford algebra (``e_a e_b = Σ_c Γ[a,b,c] e_c``) and
``⋆`` the real map of the layer (a product for :class:`CliffordLinear`, a cross-correlation
over the grid for :class:`CliffordConv1d` / :class:`CliffordConv2d` / :class:`CliffordConv3d`).
The input is the *left* factor, ``y = x · w``: that is the convention of the peer library
``cliffordlayers``, and for a non-commutative algebra the side matters.

Signatures are given as ``cliffordlayers`` gives them: ``g = (g_1, …, g_m)`` with
``e_j² = g_j ∈ {+1, −1, 0}``, e.g. ``(1, 1)`` is ``Cl(2, 0)``, ``(1, 1, 1)`` is ``Cl(3, 0)``,
``(-1,)`` is ``Cl(0, 1)`` (the complex numbers). Blades are ordered by grade, then
lexicographically: ``1, e1, e2, e12`` and ``1, e1, e2, e3, e12, e13, e23, e123``. For a
signature whose generators are already sorted ``+1 … −1 … 0 …`` the algebra is exactly
:func:`prodint.algebra.clifford` ``(p, q, r)``; for any other order (say ``(-1, 1)``) the
generators are relabelled, which maps every blade to ± a blade of ``Cl(p, q, r)``
(:func:`clifford_algebra`).

Layout and weights, chosen so the layers are drop-in for ``cliffordlayers``:

- input ``[B, C_in, *spatial, n]`` (blade last), output ``[B, C_out, *spatial', n]``;
  :class:`CliffordLinear` accepts ``[..., C_in, n]``;
- ``weight`` ``[n, C_out, C_in, *k]`` (``cliffordlayers`` keeps a list of ``n`` tensors
  ``[C_out, C_in, *k]``: stack them) and ``bias`` ``[n, C_out]``;
- the blade order and signs are those of ``cliffordlayers`` (no permutation, no sign map):
  its ``get_{1,2,3}d_clifford_kernel`` is exactly the matrix ``(c, a) ↦ Σ_b Γ[a, b, c] w_b``
  built below (checked in the tests to 1e-10).

Fast path: the structure constants are folded into one real weight once per forward,

    W_real[(o, c), (i, a), *k] = Σ_b Γ[a, b, c] · w[b, o, i, *k],

and the layer is one ``F.linear`` / ``F.conv{1,2,3}d`` with ``C_in·n`` input and ``C_out·n``
output channels. In a Clifford algebra each ``(a, c)`` pair meets exactly one ``b``
(``e_a e_b = ± e_c`` fixes ``e_b`` up to sign), or none when a degenerate generator squares to
zero, so the fold is a gather of ``w`` with a fixed ``[n, n]`` index table and a sign table:
``O(C_out·C_in·n²·|k|)`` work, the size of ``W_real``, independent of the batch. Channels are
interleaved channel-major (``i·n + a``), so a linear layer needs no permute at all, and a
convolution one copy of the input to bring the blade axis next to the channels (for 2-D and
3-D into channels-last order, which keeps the blades innermost; the output then comes back as
a channels-last view ``[B, C_out, *spatial', n]`` without a copy).

Reference: :meth:`reference` evaluates the product blade by blade, one real linear map per
nonzero structure constant (``n²`` of them), and :attr:`expression` is the same layer as a
product interaction (a :class:`~prodint.interaction.Product` in the Clifford algebra), which
:func:`prodint.interaction.evaluate` runs node by node.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.interaction import (
    AxisSum,
    Expr,
    Pad,
    Parameter,
    Permute,
    Product,
    Signal,
    Sum,
    Window,
    evaluate,
)
from prodint.zoo.clifford_signature import (
    Signature,
    _signature,
    clifford_algebra,
    clifford_fold_tables,
)

__all__ = [
    "CliffordConv1d",
    "CliffordConv2d",
    "CliffordConv3d",
    "CliffordLinear",
    "clifford_algebra",
    "clifford_fold_tables",
]



class _CliffordLayer(nn.Module):
    """Shared state of the Clifford layers: the algebra, its fold tables and the parameters.

    Attributes:
        weight: ``[n, C_out, C_in, *kernel]`` multivector filters, blade ``b`` first.
        bias: ``[n, C_out]`` multivector bias, or ``None``.
        fold_index, fold_sign: ``[n, n]`` buffers of :func:`clifford_fold_tables`.
    """

    fold_index: Tensor
    fold_sign: Tensor

    def __init__(self, signature: Signature, in_channels: int, out_channels: int,
                 kernel_size: tuple[int, ...], bias: bool) -> None:
        super().__init__()
        for value, argument in ((in_channels, "in_channels"), (out_channels, "out_channels")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{argument}: expected a positive int, received {value!r}")
        self.signature = _signature(signature)
        self.algebra = clifford_algebra(self.signature)
        self.n_blades = self.algebra.dim
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = kernel_size
        index, sign = clifford_fold_tables(self.algebra)
        self.register_buffer("fold_index", index.flatten(), persistent=False)
        self.register_buffer("fold_sign", sign, persistent=False)
        n = self.n_blades
        self.weight = nn.Parameter(torch.empty(n, out_channels, in_channels, *kernel_size))
        self.bias = nn.Parameter(torch.empty(n, out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``U(−1/√fan_in, 1/√fan_in)`` with ``fan_in = C_in·n·|k|``, as ``cliffordlayers``.

        Each output coordinate sums ``C_in·n·|k|`` terms of unit-size structure constants, so
        this is torch's default linear/conv initialisation for the folded real layer.
        """
        fan_in = self.in_channels * self.n_blades * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)

    @property
    def self_interaction_order(self) -> int:
        return self.expression.self_interaction_order

    def real_weight(self) -> Tensor:
        """``[C_out·n, C_in·n, *k]``: ``W[(o, c), (i, a)] = Σ_b Γ[a, b, c] w[b, o, i]``."""
        n, o, i = self.n_blades, self.out_channels, self.in_channels
        k = self.kernel_size
        gathered = self.weight.index_select(0, self.fold_index).view(n, n, o, i, *k)
        sign = self.fold_sign.to(self.weight.dtype).view(n, n, *([1] * (2 + len(k))))
        folded = gathered * sign  # [c, a, o, i, *k]
        spatial = range(4, 4 + len(k))
        return folded.permute(2, 0, 3, 1, *spatial).reshape(o * n, i * n, *k)

    def real_bias(self) -> Tensor | None:
        """``[C_out·n]`` bias in the folded (channel-major) order ``o·n + c``."""
        return None if self.bias is None else self.bias.t().reshape(-1)

    def load_cliffordlayers(self, module: nn.Module) -> None:
        """Copy weights from the matching ``cliffordlayers`` layer (same blade order and signs)."""
        weight = module.weight
        if isinstance(weight, nn.ParameterList | list | tuple):
            weight = torch.stack(list(weight)[: self.n_blades])
        if tuple(weight.shape) != tuple(self.weight.shape):
            raise ValueError(f"module: expected weights of shape {tuple(self.weight.shape)} "
                             f"(blades, out, in, *kernel), received {tuple(weight.shape)}")
        with torch.no_grad():
            self.weight.copy_(weight.detach())
            if (module.bias is None) != (self.bias is None):
                raise ValueError("module: bias present on one layer and absent on the other")
            if self.bias is not None:
                self.bias.copy_(module.bias.detach())

    def _check_blades(self, x: Tensor, spatial: int) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"x: expected a torch.Tensor, received {type(x).__name__}")
        want = spatial + 3
        if x.dim() != want or x.shape[1] != self.in_channels or x.shape[-1] != self.n_blades:
            raise ValueError(f"x: expected [batch, {self.in_channels}, "
                             f"{', '.join(['*'] * spatial)}, {self.n_blades}] (channels, "
                             f"{spatial} spatial dims, {self.algebra.name} blades), received "
                             f"{tuple(x.shape)}")

    def extra_repr(self) -> str:
        return (f"{self.algebra.name}, in_channels={self.in_channels}, "
                f"out_channels={self.out_channels}, bias={self.bias is not None}")


class CliffordLinear(_CliffordLayer):
    """``y[..., o, c] = Σ_i (x[..., i] · w[:, o, i])_c + bias[c, o]`` in ``Cl(g)``.

    Args:
        signature: generator squares ``g`` (e.g. ``(1, 1)``, ``(1, 1, 1)``, ``(-1,)``).
        in_channels: ``C_in``; out_channels: ``C_out``.
        bias: add a learned multivector per output channel.

    Shapes: input ``[..., C_in, n]``, output ``[..., C_out, n]`` (``n = 2^len(g)``); weight
    ``[n, C_out, C_in]`` and bias ``[n, C_out]``, as ``cliffordlayers.nn.CliffordLinear``.
    Forward: one ``F.linear`` with the ``[C_out·n, C_in·n]`` folded matrix.
    """

    def __init__(self, signature: Signature, in_channels: int, out_channels: int,
                 bias: bool = True) -> None:
        super().__init__(signature, in_channels, out_channels, (), bias)
        alg, n = self.algebra, self.n_blades
        x = Signal("X", [("i", in_channels), ("a", n, alg)])
        w = Parameter("W", [("a", n, alg), ("o", out_channels), ("i", in_channels)])
        y: Expr = Permute(AxisSum(Product(x, w, alg, "a"), "i"), ("o", "a"))
        if bias:
            y = Sum(y, Parameter("b", [("a", n, alg), ("o", out_channels)], init="zeros"))
        self.expression: Expr = y

    def forward(self, x: Tensor) -> Tensor:
        """``[..., C_in, n] → [..., C_out, n]`` by one matmul."""
        n = self.n_blades
        if not isinstance(x, Tensor) or x.dim() < 2 or tuple(x.shape[-2:]) != (
                self.in_channels, n):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected [..., {self.in_channels}, {n}] (channels, "
                             f"{self.algebra.name} blades), received {shape}")
        y = F.linear(x.flatten(-2), self.real_weight(), self.real_bias())
        return y.unflatten(-1, (self.out_channels, n))

    def reference(self, x: Tensor) -> Tensor:
        """Blade by blade: ``y_c += Γ[a,b,c] · x_a w_bᵀ`` for every nonzero structure constant."""
        return _per_blade(self, x, lambda xa, wb: xa @ wb.t(), -2)

    def expression_value(self, x: Tensor) -> Tensor:
        """:attr:`expression` evaluated node by node with this layer's parameters."""
        return evaluate(self.expression, {"X": x}, _params(self))


class _CliffordConvNd(_CliffordLayer):
    """Clifford convolution over ``N`` spatial axes (see the module doc)."""

    _CONV: tuple[Callable[..., Tensor], ...] = (F.conv1d, F.conv2d, F.conv3d)

    def __init__(self, dims: int, signature: Signature, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int] = 3, stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros") -> None:
        if groups != 1:
            raise ValueError(f"groups: expected 1 (grouped Clifford convolutions are not "
                             f"supported), received {groups!r}")
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode: expected 'zeros', received {padding_mode!r}")
        self.dims = dims
        kernel = _ints(kernel_size, dims, "kernel_size", minimum=1)
        self.stride = _ints(stride, dims, "stride", minimum=1)
        self.padding = _ints(padding, dims, "padding", minimum=0)
        self.dilation = _ints(dilation, dims, "dilation", minimum=1)
        super().__init__(signature, in_channels, out_channels, kernel, bias)
        self.expression: Expr = self._build_expression(bias)

    def _build_expression(self, bias: bool) -> Expr:
        """``Σ_{i,k} (window_k(pad(X))[i, y, k] ·_Cl W[:, o, i, k]) + b[:, o]`` (order 1)."""
        alg, n = self.algebra, self.n_blades
        spatial = [f"y{d}" for d in range(self.dims)]
        taps = [f"k{d}" for d in range(self.dims)]
        x: Expr = Signal("X", [("i", self.in_channels), *[(s, None) for s in spatial],
                               ("a", n, alg)])
        for d in range(self.dims):
            if self.padding[d]:
                x = Pad(x, spatial[d], self.padding[d], self.padding[d])
            x = Window(x, spatial[d], self.kernel_size[d], taps[d], stride=self.stride[d],
                       dilation=self.dilation[d])
        w = Parameter("W", [("a", n, alg), ("o", self.out_channels), ("i", self.in_channels),
                            *zip(taps, self.kernel_size, strict=True)],
                      fan_in=("a", "i", *taps))
        y: Expr = AxisSum(Product(x, w, alg, "a"), ("i", *taps))
        y = Permute(y, ("o", *spatial, "a"))
        if bias:
            y = Sum(y, Parameter("b", [("a", n, alg), ("o", self.out_channels)], init="zeros"))
        return y

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C_in, *spatial, n] → [B, C_out, *spatial', n]`` by one convolution."""
        self._check_blades(x, self.dims)
        b, spatial = x.shape[0], x.shape[2:-1]
        channels = self.in_channels * self.n_blades
        if self.dims == 1:
            # The conv wants the blades next to the channels: one copy, channel-major (i·n + a).
            folded = x.movedim(-1, 2).reshape(b, channels, *spatial)
        else:
            # The same copy into channels-last order ([B, *spatial, i·n + a] in memory): the
            # blades stay innermost, so it is a block copy, and channels-last is the layout
            # the CPU and cuDNN kernels run natively (measured at plain-conv speed).
            folded = x.movedim(1, -2).reshape(b, *spatial, channels).movedim(-1, 1)
        conv = self._CONV[self.dims - 1]
        y = conv(folded, self.real_weight(), self.real_bias(), self.stride, self.padding,
                 self.dilation)
        return y.unflatten(1, (self.out_channels, self.n_blades)).movedim(2, -1)

    def reference(self, x: Tensor) -> Tensor:
        """Blade by blade: ``y_c += Γ[a,b,c] · conv(x_a, w_b)`` per nonzero structure constant."""
        self._check_blades(x, self.dims)
        conv = self._CONV[self.dims - 1]

        def apply(xa: Tensor, wb: Tensor) -> Tensor:
            return conv(xa, wb, None, self.stride, self.padding, self.dilation)

        return _per_blade(self, x, apply, 1)

    def expression_value(self, x: Tensor) -> Tensor:
        """:attr:`expression` evaluated node by node with this layer's parameters."""
        return evaluate(self.expression, {"X": x}, _params(self))

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}")


class CliffordConv1d(_CliffordConvNd):
    """1-D Clifford convolution: ``[B, C_in, L, n] → [B, C_out, L', n]``.

    ``y[o, t, c] = Σ_{i,k} Σ_{a,b} Γ[a,b,c] x[i, t·s + k·d − p, a] w[b, o, i, k] + bias[c, o]``.
    Weight ``[n, C_out, C_in, k]``, bias ``[n, C_out]``. Any signature (``cliffordlayers``
    itself accepts only one generator here).
    """

    def __init__(self, signature: Signature, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int] = 3, stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros") -> None:
        super().__init__(1, signature, in_channels, out_channels, kernel_size, stride, padding,
                         dilation, groups, bias, padding_mode)


class CliffordConv2d(_CliffordConvNd):
    """2-D Clifford convolution: ``[B, C_in, H, W, n] → [B, C_out, H', W', n]``.

    The per-pixel product is ``x · w`` in ``Cl(g)`` summed over channels and the ``k_h × k_w``
    window. Weight ``[n, C_out, C_in, k_h, k_w]``, bias ``[n, C_out]``.
    """

    def __init__(self, signature: Signature, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int] = 3, stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros") -> None:
        super().__init__(2, signature, in_channels, out_channels, kernel_size, stride, padding,
                         dilation, groups, bias, padding_mode)


class CliffordConv3d(_CliffordConvNd):
    """3-D Clifford convolution: ``[B, C_in, D, H, W, n] → [B, C_out, D', H', W', n]``."""

    def __init__(self, signature: Signature, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int] = 3, stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros") -> None:
        super().__init__(3, signature, in_channels, out_channels, kernel_size, stride, padding,
                         dilation, groups, bias, padding_mode)


def _ints(value: int | Sequence[int], n: int, argument: str, *, minimum: int) -> tuple[int, ...]:
    out = (value,) * n if isinstance(value, int) else tuple(value)
    if len(out) != n or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum
                                for v in out):
        raise ValueError(f"{argument}: expected an int or {n} ints >= {minimum}, received "
                         f"{value!r}")
    return out


def _params(layer: _CliffordLayer) -> dict[str, Tensor]:
    params = {"W": layer.weight}
    if layer.bias is not None:
        params["b"] = layer.bias
    return params


def _per_blade(layer: _CliffordLayer, x: Tensor, apply: Callable[[Tensor, Tensor], Tensor],
               channel_dim: int) -> Tensor:
    """``y_c = Σ_{(a,b,c) ∈ supp Γ} Γ[a,b,c] · apply(x_a, w_b) + bias_c``, one blade at a time.

    ``x_a = x[..., a]`` and ``w_b = weight[b]``; the output blades are stacked last again and
    the bias ``[n, C_out]`` is added with its channels at ``channel_dim`` of the result.
    """
    n = layer.n_blades
    outputs: list[Tensor | None] = [None] * n
    for (a, b, c), value in zip(layer.algebra.triples.tolist(),
                                layer.algebra.values.tolist(), strict=True):
        term = value * apply(x[..., a], layer.weight[b])
        previous = outputs[c]
        outputs[c] = term if previous is None else previous + term
    # Every blade is reached (1 · e_c = e_c), so every output is set.
    y = torch.stack([t for t in outputs if t is not None], -1)
    if layer.bias is not None:
        shape = [1] * y.dim()
        shape[channel_dim], shape[-1] = layer.out_channels, n
        y = y + layer.bias.t().reshape(shape)
    return y
