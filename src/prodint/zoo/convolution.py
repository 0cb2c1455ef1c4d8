"""Convolutions (1-D/2-D/3-D, grouped, strided, dilated, zero or circular padding) and
transposed convolutions as order-1 product interactions.

A convolution is the product in the truncated-polynomial / group algebra of the grid,
written with structural maps: ``y[o, t] = Σ_{c,k} W[o, c, k] · window_k(pad(X))[c, t, k]``
(the span ``E = Y × window``, ``s(y, k) = y·stride + k·dilation``). The transposed
convolution swaps the span's source and target: zeros are inserted between inputs
(:class:`~prodint.interaction.Upsample`), the grid is padded by ``dilation·(k-1) - padding``
and the flipped filter slides over it. ``forward`` dispatches to ``F.conv{n}d`` /
``F.conv_transpose{n}d``; :meth:`general` runs the expression itself.

Layout is torch's: input ``[B, C, *spatial]``, weight ``[out, in/groups, *k]`` (transposed:
``[in, out/groups, *k]``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.checks import (
    check_bool,
    check_choice,
    check_int,
    check_layer_input,
    check_layer_options,
    check_memory,
    check_parameter_memory,
)
from prodint.checks.layers import check_conv_output
from prodint.interaction import (
    Contract,
    Expr,
    Flip,
    MergeAxes,
    Pad,
    Parameter,
    Permute,
    Rename,
    Signal,
    SplitAxis,
    Sum,
    Upsample,
    Window,
)
from prodint.interaction.layer import InteractionLayer
from prodint.zoo.checks import check_channels, ints_per_axis
from prodint.zoo.registry import copy_from, register_converter

PADDING_MODES = ("zeros", "circular")


def _check_conv_options(n: object, bias: object, device: object, dtype: object,
                        generator: object) -> int:
    """The options every convolution checks first: ``n`` (1, 2 or 3 spatial axes), ``bias``
    and the layer options."""
    dims = check_int(n, "n", minimum=1, maximum=3)
    check_bool(bias, "bias")
    check_layer_options(device, dtype, generator)
    return dims


def _contract_filters(win: Expr, w: Expr, groups: int, channels: int, out: int,
                      spatial: list[str], taps: list[str]) -> Expr:
    """``Σ_{c,k} win[c, y, k] W[o, c, k]`` per group, laid out ``[o, *y]``."""
    if groups == 1:
        y = Contract(win, w, over=("c", *taps))
        return Permute(y, ("o", *spatial))
    win = SplitAxis(win, "c", [("g", groups), ("ci", channels // groups)])
    w = SplitAxis(w, "o", [("g", groups), ("oi", out // groups)])
    y = Contract(win, w, over=("ci", *taps))
    return MergeAxes(Permute(y, ("g", "oi", *spatial)), ["g", "oi"], "o")


def conv_expression(n: int, in_channels: int, out_channels: int, kernel_size: Sequence[int],
                    stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                    groups: int, bias: bool, padding_mode: str) -> Expr:
    """The N-d convolution as an interaction over ``X[c, y0, …]`` (order 1)."""
    spatial = [f"y{i}" for i in range(n)]
    taps = [f"k{i}" for i in range(n)]
    x: Expr = Signal("X", [("c", in_channels)] + [(s, None) for s in spatial])
    for i in range(n):
        if padding[i]:
            x = Pad(x, spatial[i], padding[i], padding[i], padding_mode)
        x = Window(x, spatial[i], kernel_size[i], taps[i], stride=stride[i],
                   dilation=dilation[i])
    kernel_axes = list(zip(taps, kernel_size, strict=True))
    per_group = "c" if groups == 1 else "ci"  # the filter sees its group's channels only
    w = Parameter("W", [("o", out_channels), (per_group, in_channels // groups), *kernel_axes],
                  init="uniform", fan_in=(per_group, *taps))
    y = _contract_filters(x, w, groups, in_channels, out_channels, spatial, taps)
    return Sum(y, Parameter("b", [("o", out_channels)], init="zeros")) if bias else y


def conv_transpose_expression(n: int, in_channels: int, out_channels: int,
                              kernel_size: Sequence[int], stride: Sequence[int],
                              padding: Sequence[int], output_padding: Sequence[int],
                              dilation: Sequence[int], groups: int, bias: bool) -> Expr:
    """The N-d transposed convolution: upsample, pad, slide the flipped filter (order 1)."""
    spatial = [f"y{i}" for i in range(n)]
    taps = [f"k{i}" for i in range(n)]
    x: Expr = Signal("X", [("c", in_channels)] + [(s, None) for s in spatial])
    for i in range(n):
        reach = dilation[i] * (kernel_size[i] - 1)
        if padding[i] > reach:
            raise ValueError(f"padding: expected at most dilation·(kernel_size-1) = {reach} "
                             f"per axis, received {padding[i]}")
        x = Upsample(x, spatial[i], stride[i])
        before, after = reach - padding[i], reach - padding[i] + output_padding[i]
        if before or after:
            x = Pad(x, spatial[i], before, after)
        x = Window(x, spatial[i], kernel_size[i], taps[i], dilation=dilation[i])
    kernel_axes = list(zip(taps, kernel_size, strict=True))
    w: Expr = Parameter("W", [("c", in_channels), ("o", out_channels // groups), *kernel_axes],
                        init="uniform", fan_in=("o", *taps))
    for tap in taps:
        w = Flip(w, tap)
    if groups == 1:
        y = Permute(Contract(x, w, over=("c", *taps)), ("o", *spatial))
    else:
        win = SplitAxis(x, "c", [("g", groups), ("ci", in_channels // groups)])
        w = SplitAxis(w, "c", [("g", groups), ("ci", in_channels // groups)])
        y = Contract(win, Permute(w, ("g", "ci", "o", *taps)), over=("ci", *taps))
        y = Rename(MergeAxes(Permute(y, ("g", "o", *spatial)), ["g", "o"], "go"), {"go": "o"})
    return Sum(y, Parameter("b", [("o", out_channels)], init="zeros")) if bias else y


class _Convolution(InteractionLayer):
    """What convolutions and transposed convolutions share: options and the input check."""

    def __init__(self, expression: Expr, n: int, in_channels: int, out_channels: int,
                 groups: int, *, device: torch.device | str | None,
                 dtype: torch.dtype | None, generator: torch.Generator | None) -> None:
        super().__init__(expression, device=device, dtype=dtype, generator=generator)
        self.n, self.groups = n, groups
        self.in_channels, self.out_channels = in_channels, out_channels

    def _check(self, x: object) -> Tensor:
        """``x`` as ``[batch, in_channels, *spatial]`` in the layer's dtype and device."""
        layout = f"[batch, in_channels={self.in_channels}, n={self.n} spatial dims]"
        x = check_layer_input(x, "x", self.param("W"), rank=self.n + 2, layout=layout)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x: expected {layout}, received {tuple(x.shape)}")
        return x

    def _bias(self) -> Tensor | None:
        return self.param("b") if self.has_param("b") else None


class ConvNd(_Convolution):
    """N-d convolution (``n`` = 1, 2, 3) in torch's layout; ``forward`` uses ``F.conv{n}d``."""

    def __init__(self, n: int, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        n = _check_conv_options(n, bias, device, dtype, generator)
        check_choice(padding_mode, "padding_mode", PADDING_MODES)
        check_channels(in_channels, out_channels, groups)
        self.kernel_size = ints_per_axis(kernel_size, n, "kernel_size", minimum=1)
        self.stride = ints_per_axis(stride, n, "stride", minimum=1)
        self.padding = ints_per_axis(padding, n, "padding")
        self.dilation = ints_per_axis(dilation, n, "dilation", minimum=1)
        check_parameter_memory(out_channels * (in_channels // groups) * math.prod(self.kernel_size)
                         + out_channels, "in_channels, out_channels, kernel_size", dtype)
        self.padding_mode = padding_mode
        super().__init__(conv_expression(n, in_channels, out_channels, self.kernel_size,
                                         self.stride, self.padding, self.dilation, groups,
                                         bias, padding_mode),
                         n, in_channels, out_channels, groups, device=device, dtype=dtype,
                         generator=generator)

    def _check_grid(self, x: Tensor) -> None:
        """The window fits the padded input and the output fits in memory; circular padding
        wraps at most once around each axis."""
        spatial = x.shape[2:]
        check_conv_output(x, spatial, self.kernel_size, self.stride, self.padding,
                          self.dilation, self.out_channels)
        if self.padding_mode == "circular" and any(
                p > size for p, size in zip(self.padding, spatial, strict=True)):
            raise ValueError(f"padding: expected at most the spatial sizes {tuple(spatial)} "
                             f"for circular padding, received {self.padding}")

    def general(self, x: Tensor) -> Tensor:
        """The compiled expression."""
        self._check_grid(self._check(x))
        return self.run_plan(x)

    def reference(self, x: Tensor) -> Tensor:
        """The expression evaluated node by node."""
        self._check_grid(self._check(x))
        return self.run_reference(x)

    def forward(self, x: Tensor) -> Tensor:
        self._check_grid(self._check(x))
        conv = (F.conv1d, F.conv2d, F.conv3d)[self.n - 1]
        padding: tuple[int, ...] | int = self.padding
        if self.padding_mode == "circular" and any(self.padding):
            pads = [p for p in reversed(self.padding) for _ in range(2)]
            x, padding = F.pad(x, pads, mode="circular"), 0
        return conv(x, self.param("W"), self._bias(), self.stride, padding, self.dilation,
                    self.groups)


class ConvTransposeNd(_Convolution):
    """N-d transposed convolution (``n`` = 1, 2, 3); ``forward`` uses ``F.conv_transpose{n}d``."""

    def __init__(self, n: int, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, output_padding: int | Sequence[int] = 0,
                 groups: int = 1, bias: bool = True, dilation: int | Sequence[int] = 1, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        n = _check_conv_options(n, bias, device, dtype, generator)
        check_channels(in_channels, out_channels, groups)
        self.kernel_size = ints_per_axis(kernel_size, n, "kernel_size", minimum=1)
        self.stride = ints_per_axis(stride, n, "stride", minimum=1)
        self.padding = ints_per_axis(padding, n, "padding")
        self.output_padding = ints_per_axis(output_padding, n, "output_padding")
        self.dilation = ints_per_axis(dilation, n, "dilation", minimum=1)
        check_parameter_memory(in_channels * (out_channels // groups) * math.prod(self.kernel_size)
                         + out_channels, "in_channels, out_channels, kernel_size", dtype)
        for op, st, di in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if op >= max(st, di):
                raise ValueError(f"output_padding: expected less than stride or dilation per "
                                 f"axis (stride={self.stride}, dilation={self.dilation}), "
                                 f"received {self.output_padding}")
        super().__init__(conv_transpose_expression(
            n, in_channels, out_channels, self.kernel_size, self.stride, self.padding,
            self.output_padding, self.dilation, groups, bias),
            n, in_channels, out_channels, groups, device=device, dtype=dtype,
            generator=generator)

    def _check_grid(self, x: Tensor) -> None:
        """The output grid is not empty and fits in memory."""
        out = [(size - 1) * s - 2 * p + d * (k - 1) + op + 1 for size, k, s, p, op, d in zip(
            x.shape[2:], self.kernel_size, self.stride, self.padding, self.output_padding,
            self.dilation, strict=True)]
        if any(size < 1 for size in out):
            raise ValueError(f"x: expected spatial sizes with a non-empty output for padding "
                             f"{self.padding}, received shape {tuple(x.shape)}")
        check_memory(x.shape[0] * self.out_channels * math.prod(out) * x.element_size(),
                     "x, stride, dilation, kernel_size", "output")

    def general(self, x: Tensor) -> Tensor:
        """The compiled expression."""
        self._check_grid(self._check(x))
        return self.run_plan(x)

    def reference(self, x: Tensor) -> Tensor:
        """The expression evaluated node by node."""
        self._check_grid(self._check(x))
        return self.run_reference(x)

    def forward(self, x: Tensor) -> Tensor:
        self._check_grid(self._check(x))
        conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self.n - 1]
        return conv(x, self.param("W"), self._bias(), self.stride, self.padding,
                    self.output_padding, self.groups, self.dilation)


def _convert_conv(module: nn.Module) -> ConvNd:
    n = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}[type(module)]
    padding = module.padding
    if isinstance(padding, str):
        if padding == "same" and any(s != 1 for s in module.stride):
            raise ValueError("padding: 'same' needs stride 1")
        if padding == "same":
            totals = [d * (k - 1) for d, k in zip(module.dilation, module.kernel_size,
                                                   strict=True)]
            if any(t % 2 for t in totals):
                raise ValueError("padding: 'same' with an even receptive field pads "
                                 "asymmetrically, which is not supported; pad explicitly")
            padding = tuple(t // 2 for t in totals)
        else:
            padding = (0,) * n
    if module.padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode: expected one of {PADDING_MODES}, received "
                         f"{module.padding_mode!r}")
    layer = ConvNd(n, module.in_channels, module.out_channels, module.kernel_size,
                   module.stride, padding, module.dilation, module.groups,
                   module.bias is not None, module.padding_mode)
    return copy_from(layer, module, W=module.weight, b=module.bias)


def _convert_conv_transpose(module: nn.Module) -> ConvTransposeNd:
    n = {nn.ConvTranspose1d: 1, nn.ConvTranspose2d: 2, nn.ConvTranspose3d: 3}[type(module)]
    if module.padding_mode != "zeros":
        raise ValueError(f"padding_mode: expected 'zeros', received {module.padding_mode!r}")
    layer = ConvTransposeNd(n, module.in_channels, module.out_channels, module.kernel_size,
                            module.stride, module.padding, module.output_padding,
                            module.groups, module.bias is not None, module.dilation)
    return copy_from(layer, module, W=module.weight, b=module.bias)


register_converter(nn.Conv1d, nn.Conv2d, nn.Conv3d)(_convert_conv)
register_converter(nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)(
    _convert_conv_transpose)
