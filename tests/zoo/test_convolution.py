"""Dense and convolution layers: from_torch equals torch; native == general == reference."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from prodint.zoo import from_torch
from prodint.zoo.convolution import ConvNd


def _check(torch_module: nn.Module, x0: torch.Tensor, tol: float) -> None:
    layer = from_torch(torch_module)
    assert layer.self_interaction_order == 1
    for path in (layer, layer.general, layer.reference):
        grads = []
        for fn, params in ((torch_module, list(torch_module.parameters())),
                           (path, list(layer.parameters()))):
            x = x0.clone().requires_grad_()
            out = fn(x)
            w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view(out.shape)
            g = torch.autograd.grad((out * w).sum(), [x, *params])
            grads.append((out.detach(), *g))
        for a, b in zip(*grads, strict=True):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def test_linear(dtype, tol) -> None:
    torch.manual_seed(0)
    for bias in (True, False):
        _check(nn.Linear(5, 3, bias=bias).to(dtype), torch.randn(2, 4, 5, dtype=dtype), tol)


@settings(max_examples=12, deadline=None)
@given(
    n=st.sampled_from([1, 2, 3]),
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
    padding=st.integers(0, 2),
    groups=st.sampled_from([1, 2]),
    circular=st.booleans(),
    bias=st.booleans(),
)
def test_conv_matches_torch(n, k, stride, dilation, padding, groups, circular, bias) -> None:
    torch.manual_seed(0)
    cls = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[n - 1]
    mode = "circular" if circular and padding else "zeros"
    module = cls(4, 6, k, stride=stride, padding=padding, dilation=dilation, groups=groups,
                 bias=bias, padding_mode=mode).double()
    size = (9, 8, 7)[: n] if n < 3 else (6, 5, 7)
    _check(module, torch.randn(2, 4, *size, dtype=torch.float64), 1e-10)


@settings(max_examples=10, deadline=None)
@given(
    n=st.sampled_from([1, 2]),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    groups=st.sampled_from([1, 2]),
    bias=st.booleans(),
    data=st.data(),
)
def test_conv_transpose_matches_torch(n, k, stride, dilation, groups, bias, data) -> None:
    torch.manual_seed(0)
    padding = data.draw(st.integers(0, dilation * (k - 1)))
    output_padding = data.draw(st.integers(0, max(0, min(stride, dilation) - 1)))
    cls = (nn.ConvTranspose1d, nn.ConvTranspose2d)[n - 1]
    module = cls(4, 6, k, stride=stride, padding=padding, output_padding=output_padding,
                 groups=groups, bias=bias, dilation=dilation).double()
    _check(module, torch.randn(2, 4, *(5, 6)[:n], dtype=torch.float64), 1e-10)


def test_conv_float32_and_same_padding() -> None:
    torch.manual_seed(0)
    _check(nn.Conv2d(3, 5, 3, padding="same"), torch.randn(2, 3, 8, 8), 1e-5)
    _check(nn.Conv1d(3, 5, 3, padding="valid"), torch.randn(2, 3, 8), 1e-5)


def test_expression_prints_the_window_product() -> None:
    layer = from_torch(nn.Conv1d(2, 3, 3, padding=1))
    assert str(layer.expression) == "(Σ_c,k0 (window_y0^3(pad_y0^(1,1)(X)) W) + b)"


def test_unsupported_options_are_named() -> None:
    with pytest.raises(ValueError, match="padding_mode: expected one of"):
        from_torch(nn.Conv1d(2, 2, 3, padding=1, padding_mode="reflect"))
    with pytest.raises(ValueError, match="padding: 'same' with an even receptive field"):
        from_torch(nn.Conv1d(2, 2, 4, padding="same"))
    with pytest.raises(TypeError, match="module: no converter for ReLU"):
        from_torch(nn.ReLU())
    layer = ConvNd(2, 3, 4, 3)
    with pytest.raises(ValueError, match=r"x: expected \[batch, in_channels=3, n=2 spatial dims\]"):
        layer(torch.randn(1, 4, 5, 5))


def test_bad_arguments_are_named() -> None:
    from prodint.zoo.convolution import ConvTransposeNd, ints_per_axis

    assert ints_per_axis(2, 3, "stride", minimum=1) == (2, 2, 2)
    assert ints_per_axis([0, 1], 2, "padding") == (0, 1)
    with pytest.raises(ValueError, match=r"stride: expected a positive int, received 0"):
        ConvNd(2, 3, 4, 3, stride=0)
    with pytest.raises(ValueError, match=r"kernel_size: expected an int or 3 ints, "
                                         r"received \(3, 3\)"):
        ConvNd(3, 3, 4, (3, 3))
    with pytest.raises(ValueError, match=r"padding: expected an int >= 0, received -1"):
        ConvTransposeNd(1, 2, 2, 3, padding=-1)
    with pytest.raises(TypeError, match=r"dilation: expected an int or 1 ints, "
                                        r"received bool True"):
        ConvNd(1, 2, 2, 3, dilation=True)
    with pytest.raises(TypeError, match=r"stride: expected an int, received 2.0"):
        ConvNd(2, 3, 4, 3, stride=(1, 2.0))
    with pytest.raises(ValueError, match=r"groups: expected a divisor of in_channels=3 and "
                                         r"out_channels=4, received 2"):
        ConvNd(1, 3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"in_channels: expected a positive int, received 0"):
        ConvTransposeNd(1, 0, 4, 3)
    with pytest.raises(ValueError, match=r"output_padding: expected less than stride or "
                                         r"dilation"):
        ConvTransposeNd(1, 2, 2, 3, stride=2, output_padding=2)
    with pytest.raises(TypeError, match=r"x: expected a torch.Tensor \[batch, in_channels=2, "
                                        r"n=1 spatial dims\], "
                                        r"received list"):
        ConvNd(1, 2, 2, 3)([[1.0]])


def test_sizes_are_estimated_before_any_allocation() -> None:
    with pytest.raises(ValueError, match=r"in_channels, out_channels, kernel_size: expected a "
                                         r"size for which the parameters and tables fits in "
                                         r".*about 12.0 TiB"):
        ConvNd(1, 2**40, 1, 3)
    layer = ConvNd(1, 2, 2, 3, padding=2**40)
    with pytest.raises(ValueError, match=r"x, padding, stride, dilation: .*output"):
        layer(torch.randn(1, 2, 5))
    with pytest.raises(ValueError, match=r"x: expected spatial sizes of at least "
                                         r"dilation\*\(kernel_size-1\)\+1-2\*padding = 9"):
        ConvNd(1, 2, 2, 3, dilation=4)(torch.randn(1, 2, 5))
    with pytest.raises(ValueError, match=r"padding: expected at most the spatial sizes"):
        ConvNd(1, 2, 2, 3, padding=6, padding_mode="circular")(torch.randn(1, 2, 5))


def test_options_and_inputs_are_checked() -> None:
    with pytest.raises(TypeError, match=r"dtype: expected a floating torch.dtype"):
        ConvNd(1, 2, 2, 3, dtype="float64")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"device: expected a device such as"):
        ConvNd(1, 2, 2, 3, device="gpu0")
    with pytest.raises(TypeError, match=r"generator: expected a torch.Generator"):
        ConvNd(1, 2, 2, 3, generator=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"bias: expected a bool, received 1"):
        ConvNd(1, 2, 2, 3, bias=1)  # type: ignore[arg-type]
    layer = ConvNd(1, 2, 2, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"x: expected dtype torch.float64 \(the layer's dtype\)"):
        layer(torch.ones(1, 2, 5, dtype=torch.int64))
    assert layer(torch.ones(0, 2, 5, dtype=torch.float64)).shape == (0, 2, 3)
