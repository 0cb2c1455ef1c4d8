"""Clifford linear and convolution layers: the order-1 product in ``Cl(p, q, r)``, one matmul.

A multivector-valued signal has ``n = 2^m`` real coordinates per channel (``m`` generators),
one per basis blade. The layers compute, per output channel ``o`` and output blade ``c``,

    y[o, c] = Σ_i Σ_{a,b} Γ[a, b, c] · x[i, a] ⋆ w[b, o, i] + bias[c, o]

with ``Γ`` the structure constants of the Clifford algebra (``e_a e_b = Σ_c Γ[a,b,c] e_c``) and
``⋆`` the real map of the layer (a product for :class:`CliffordLinear`, a cross-correlation
over the grid for :class:`CliffordConv1d` / :class:`CliffordConv2d` / :class:`CliffordConv3d`).
The input is the *left* factor, ``y = x · w``: that is the convention of the peer library
``cliffordlayers``, and for a non-commutative algebra the side matters.

Signatures are given as ``cliffordlayers`` gives them (:mod:`prodint.zoo.clifford_signature`):
``g = (g_1, …, g_m)`` with ``e_j² = g_j ∈ {+1, −1, 0}``; blades are ordered by grade, then
lexicographically: ``1, e1, e2, e12`` and ``1, e1, e2, e3, e12, e13, e23, e123``.

Layout and parameters, chosen so the layers are drop-in for ``cliffordlayers``:

- input ``[B, C_in, *spatial, n]`` (blade last), output ``[B, C_out, *spatial', n]``;
  :class:`CliffordLinear` accepts ``[..., C_in, n]``;
- ``params.W`` ``[n, C_out, C_in, *k]`` (``cliffordlayers`` keeps a list of ``n`` tensors
  ``[C_out, C_in, *k]``: stack them) and ``params.b`` ``[n, C_out]``;
- the blade order and signs are those of ``cliffordlayers`` (no permutation, no sign map):
  its ``get_{1,2,3}d_clifford_kernel`` is exactly the matrix ``(c, a) ↦ Σ_b Γ[a, b, c] w_b``.

The expression states the product through the structure-constant fold
(:func:`~prodint.interaction.fold.fold`, the filter on the right)::

    W_real[o, c, i, a, *k] = Σ_b Γ[a, b, c] · w[b, o, i, *k],

a tie table of ``w`` (one ``b`` and a sign per ``(a, c)`` in a Clifford algebra, or none when
a degenerate generator squares to zero), and the layer is a real linear map / convolution
with ``W_real``. Fast path: the tie builds ``W_real`` once per call, already in the
``[(o, c), (i, a), *k]`` layout of ``F.linear`` / ``F.conv{1,2,3}d`` (``O(C_out·C_in·n²·|k|)``
work, the size of ``W_real``, independent of the batch), then ONE linear map or convolution
with ``C_in·n`` input and ``C_out·n`` output channels. Channels are interleaved channel-major
(``i·n + a``), so a linear layer needs no permute at all, and a convolution one copy of the
input to bring the blade axis next to the channels (for 2-D and 3-D into channels-last
order, which keeps the blades innermost; the output then comes back as a channels-last view
``[B, C_out, *spatial', n]`` without a copy).

Oracle: :meth:`oracle` evaluates the product blade by blade, one real linear map per nonzero
structure constant, without the fold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.algebra import Algebra
from prodint.checks import (
    check_bool,
    check_choice,
    check_int,
    check_layer_input,
    check_layer_options,
    check_parameter_memory,
)
from prodint.checks.layers import check_conv_output
from prodint.interaction import (
    Contract,
    Expr,
    Gather,
    Pad,
    Parameter,
    Permute,
    Plan,
    Signal,
    Sum,
    Window,
)
from prodint.interaction.fold import fold
from prodint.interaction.layer import InteractionLayer
from prodint.zoo.checks import ints_per_axis
from prodint.zoo.clifford_signature import Signature, _signature, clifford_algebra

__all__ = [
    "CliffordConv1d",
    "CliffordConv2d",
    "CliffordConv3d",
    "CliffordLinear",
    "clifford_algebra",
    "clifford_expression",
]


def clifford_expression(alg: Algebra, in_channels: int, out_channels: int,
                        kernel_size: Sequence[int] = (), stride: Sequence[int] = (),
                        padding: Sequence[int] = (), dilation: Sequence[int] = (),
                        bias: bool = True) -> tuple[Expr, Gather]:
    """The layer ``x · w`` in ``alg`` over ``len(kernel_size)`` spatial axes (0: linear), order 1.

    ``Σ_{i,a,k} window_k(pad(X))[i, y, k, a] W_real[o, c, i, a, k] + b[c, o]`` with
    ``W_real = fold(W)`` (module doc). Returns the expression and the fold ``W_real``.
    """
    n, dims = alg.dim, len(kernel_size)
    spatial = [f"y{d}" for d in range(dims)]
    taps = [f"k{d}" for d in range(dims)]
    x: Expr = Signal("X", [("i", in_channels), *[(s, None) for s in spatial], ("a", n, alg)])
    for d in range(dims):
        if padding[d]:
            x = Pad(x, spatial[d], padding[d], padding[d])
        x = Window(x, spatial[d], kernel_size[d], taps[d], stride=stride[d],
                   dilation=dilation[d])
    # U(±1/√fan_in), fan_in = C_in·n·|k|: torch's default for the folded real layer, as
    # cliffordlayers draws it (each output coordinate sums that many unit-size terms).
    w = Parameter("W", [("b", n, alg), ("o", out_channels), ("i", in_channels),
                        *zip(taps, kernel_size, strict=True)],
                  init="uniform", fan_in=("b", "i", *taps))
    real = fold(w, alg, "b", side="right", input_axis="a", output_axis="c",
                order=("o", "c", "i", "a", *taps))
    y: Expr = Contract(x, real, over=("i", "a", *taps))
    if dims:
        y = Permute(y, ("o", *spatial, "c"))
    if bias:
        y = Sum(y, Parameter("b", [("c", n, alg), ("o", out_channels)], init="zeros"))
    return y, real


class _CliffordLayer(InteractionLayer):
    """Shared parts of the Clifford layers: the algebra, the fold, the oracle, the peer copy.

    Attributes:
        algebra: the Clifford algebra of the signature (:func:`clifford_algebra`).
        n_blades: ``n = 2^m``.

    Raises:
        TypeError: a size that is not an int, a flag that is not a bool, a bad option; an
            input that is not a tensor of the layer's dtype.
        ValueError: a bad signature, a size below 1, ``groups != 1``, parameters that would
            not fit in memory; an input of another shape or device, or too small a grid.
    """

    def __init__(self, signature: Signature, in_channels: int, out_channels: int,
                 kernel_size: tuple[int, ...], stride: tuple[int, ...],
                 padding: tuple[int, ...], dilation: tuple[int, ...], bias: bool, *,
                 device: torch.device | str | None, dtype: torch.dtype | None,
                 generator: torch.Generator | None) -> None:
        self.signature = _signature(signature)
        check_int(in_channels, "in_channels", minimum=1)
        check_int(out_channels, "out_channels", minimum=1)
        check_bool(bias, "bias")
        check_layer_options(device, dtype, generator)
        n, taps = 2 ** len(self.signature), math.prod(kernel_size)
        # the weight and bias, and the fold's table: an index and a sign per real weight
        check_parameter_memory(n * out_channels * (in_channels * taps + 1)
                         + n * n * out_channels * in_channels * taps,
                         "in_channels, out_channels, kernel_size", dtype,
                         tables=n * n * out_channels * in_channels * taps)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = kernel_size, stride
        self.padding, self.dilation = padding, dilation
        algebra = clifford_algebra(self.signature)
        expression, real = clifford_expression(algebra, in_channels, out_channels,
                                               kernel_size, stride, padding, dilation, bias)
        super().__init__(expression, device=device, dtype=dtype, generator=generator)
        self.algebra = algebra.to_dtype(dtype or torch.get_default_dtype()).to(device)
        self.n_blades = algebra.dim
        self._fold = Plan(real)

    def real_weight(self) -> Tensor:
        """``[C_out·n, C_in·n, *k]``: ``W[(o, c), (i, a)] = Σ_b Γ[a, b, c] w[b, o, i]`` (a tie)."""
        n, o, i = self.n_blades, self.out_channels, self.in_channels
        folded = self._fold.run({}, self.params, self.tables())
        return folded.reshape(o * n, i * n, *self.kernel_size)

    def real_bias(self) -> Tensor | None:
        """``[C_out·n]`` bias in the folded (channel-major) order ``o·n + c``."""
        return self.params["b"].t().reshape(-1) if self.has_param("b") else None

    def load_cliffordlayers(self, module: nn.Module) -> None:
        """Copy weights from the matching ``cliffordlayers`` layer (same blade order and signs)."""
        weight = module.weight
        if isinstance(weight, nn.ParameterList | list | tuple):
            weight = torch.stack(list(weight)[: self.n_blades])
        if (module.bias is None) == self.has_param("b"):
            raise ValueError("module: bias present on one layer and absent on the other")
        self.load_tensors(W=weight)
        if module.bias is not None:
            self.load_tensors(b=module.bias)

    def _check_blades(self, x: Tensor, spatial: int) -> None:
        check_layer_input(x, "x", self.params["W"])
        if spatial == 0:
            ok = x.dim() >= 2 and tuple(x.shape[-2:]) == (self.in_channels, self.n_blades)
            want = f"[..., {self.in_channels}, {self.n_blades}] (channels"
        else:
            ok = x.dim() == spatial + 3 and x.shape[1] == self.in_channels and \
                x.shape[-1] == self.n_blades
            want = (f"[batch, {self.in_channels}, {', '.join(['*'] * spatial)}, "
                    f"{self.n_blades}] (channels, {spatial} spatial dims")
        if not ok:
            raise ValueError(f"x: expected {want}, {self.algebra.name} blades), received "
                             f"{tuple(x.shape)}")
        if spatial:
            check_conv_output(x, x.shape[2:-1], self.kernel_size, self.stride, self.padding,
                              self.dilation, self.out_channels * self.n_blades)

    def general(self, x: Tensor) -> Tensor:
        """The compiled expression (the fold, then the contraction)."""
        self._check_blades(x, len(self.kernel_size))
        return self.run_plan(x)

    def reference(self, x: Tensor) -> Tensor:
        """The expression evaluated node by node."""
        self._check_blades(x, len(self.kernel_size))
        return self.run_reference(x)

    def _per_blade(self, x: Tensor, apply: Callable[[Tensor, Tensor], Tensor],
                   channel_dim: int) -> Tensor:
        """``y_c = Σ_{(a,b,c) ∈ supp Γ} Γ[a,b,c] · apply(x_a, w_b) + bias_c``, blade by blade.

        ``x_a = x[..., a]`` and ``w_b = W[b]``; the output blades are stacked last again and
        the bias ``[n, C_out]`` is added with its channels at ``channel_dim`` of the result.
        """
        n, weight = self.n_blades, self.params["W"]
        outputs: list[Tensor | None] = [None] * n
        for (a, b, c), value in zip(self.algebra.triples.tolist(),
                                    self.algebra.values.tolist(), strict=True):
            term = value * apply(x[..., a], weight[b])
            previous = outputs[c]
            outputs[c] = term if previous is None else previous + term
        # Every blade is reached (1 · e_c = e_c), so every output is set.
        y = torch.stack([t for t in outputs if t is not None], -1)
        if self.has_param("b"):
            shape = [1] * y.dim()
            shape[channel_dim], shape[-1] = self.out_channels, n
            y = y + self.params["b"].t().reshape(shape)
        return y

    def extra_repr(self) -> str:
        return (f"{self.algebra.name}, in_channels={self.in_channels}, "
                f"out_channels={self.out_channels}, bias={self.has_param('b')}, "
                f"{super().extra_repr()}")


class CliffordLinear(_CliffordLayer):
    """``y[..., o, c] = Σ_i (x[..., i] · w[:, o, i])_c + bias[c, o]`` in ``Cl(g)``.

    Args:
        signature: generator squares ``g`` (e.g. ``(1, 1)``, ``(1, 1, 1)``, ``(-1,)``).
        in_channels: ``C_in``; out_channels: ``C_out``.
        bias: add a learned multivector per output channel (initialised to zero).
        device, dtype, generator: as :class:`~prodint.interaction.layer.InteractionLayer`.

    Shapes: input ``[..., C_in, n]``, output ``[..., C_out, n]`` (``n = 2^len(g)``); weight
    ``params.W`` ``[n, C_out, C_in]`` and bias ``params.b`` ``[n, C_out]``, as
    ``cliffordlayers.nn.CliffordLinear``. Forward: one ``F.linear`` with the
    ``[C_out·n, C_in·n]`` folded matrix.
    """

    def __init__(self, signature: Signature, in_channels: int, out_channels: int,
                 bias: bool = True, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(signature, in_channels, out_channels, (), (), (), (), bias,
                         device=device, dtype=dtype, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        """``[..., C_in, n] → [..., C_out, n]`` by one matmul."""
        self._check_blades(x, 0)
        y = F.linear(x.flatten(-2), self.real_weight(), self.real_bias())
        return y.unflatten(-1, (self.out_channels, self.n_blades))

    def oracle(self, x: Tensor) -> Tensor:
        """Blade by blade: ``y_c += Γ[a,b,c] · x_a w_bᵀ`` for every nonzero structure constant."""
        self._check_blades(x, 0)
        return self._per_blade(x, lambda xa, wb: xa @ wb.t(), -2)


class _CliffordConvNd(_CliffordLayer):
    """Clifford convolution over ``N`` spatial axes (see the module doc)."""

    _CONV: tuple[Callable[..., Tensor], ...] = (F.conv1d, F.conv2d, F.conv3d)

    def __init__(self, dims: int, signature: Signature, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int] = 3, stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        if check_int(groups, "groups") != 1:
            raise ValueError(f"groups: expected 1 (grouped Clifford convolutions are not "
                             f"supported), received {groups!r}")
        check_choice(padding_mode, "padding_mode", ("zeros",))
        self.dims = dims
        super().__init__(signature, in_channels, out_channels,
                         ints_per_axis(kernel_size, dims, "kernel_size", minimum=1),
                         ints_per_axis(stride, dims, "stride", minimum=1),
                         ints_per_axis(padding, dims, "padding"),
                         ints_per_axis(dilation, dims, "dilation", minimum=1), bias,
                         device=device, dtype=dtype, generator=generator)

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

    def oracle(self, x: Tensor) -> Tensor:
        """Blade by blade: ``y_c += Γ[a,b,c] · conv(x_a, w_b)`` per nonzero structure constant."""
        self._check_blades(x, self.dims)
        conv = self._CONV[self.dims - 1]

        def apply(xa: Tensor, wb: Tensor) -> Tensor:
            return conv(xa, wb, None, self.stride, self.padding, self.dilation)

        return self._per_blade(x, apply, 1)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, {super().extra_repr()}")


class CliffordConv1d(_CliffordConvNd):
    """1-D Clifford convolution: ``[B, C_in, L, n] → [B, C_out, L', n]``.

    ``y[o, t, c] = Σ_{i,k} Σ_{a,b} Γ[a,b,c] x[i, t·s + k·d − p, a] w[b, o, i, k] + bias[c, o]``.
    Weight ``params.W`` ``[n, C_out, C_in, k]``, bias ``params.b`` ``[n, C_out]``. Any
    signature (``cliffordlayers`` itself accepts only one generator here).
    """

    def __init__(self, signature: Signature, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int] = 3, stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(1, signature, in_channels, out_channels, kernel_size, stride, padding,
                         dilation, groups, bias, padding_mode, device=device, dtype=dtype,
                         generator=generator)


class CliffordConv2d(_CliffordConvNd):
    """2-D Clifford convolution: ``[B, C_in, H, W, n] → [B, C_out, H', W', n]``.

    The per-pixel product is ``x · w`` in ``Cl(g)`` summed over channels and the ``k_h × k_w``
    window. Weight ``params.W`` ``[n, C_out, C_in, k_h, k_w]``, bias ``params.b``
    ``[n, C_out]``.
    """

    def __init__(self, signature: Signature, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int] = 3, stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(2, signature, in_channels, out_channels, kernel_size, stride, padding,
                         dilation, groups, bias, padding_mode, device=device, dtype=dtype,
                         generator=generator)


class CliffordConv3d(_CliffordConvNd):
    """3-D Clifford convolution: ``[B, C_in, D, H, W, n] → [B, C_out, D', H', W', n]``."""

    def __init__(self, signature: Signature, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int] = 3, stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(3, signature, in_channels, out_channels, kernel_size, stride, padding,
                         dilation, groups, bias, padding_mode, device=device, dtype=dtype,
                         generator=generator)
