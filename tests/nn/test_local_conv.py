"""The short causal convolution: the written-out sum, streaming and prefill, gradients."""

import pytest
import torch

from prodint.nn.local_conv import CausalConv


def naive(conv: CausalConv, u: torch.Tensor) -> torch.Tensor:
    y = u.clone()
    for t in range(u.shape[1]):
        for j in range(conv.kernel):
            if t - j >= 0:
                y[:, t] = y[:, t] + conv.weight[:, j] * u[:, t - j]
    return y


@pytest.mark.parametrize("kernel", [1, 4])
def test_forward_step_prefill(kernel: int, dtype, tol) -> None:
    torch.manual_seed(0)
    conv = CausalConv(6, kernel).to(dtype)
    with torch.no_grad():
        conv.weight.normal_()
    u = torch.randn(2, 9, 6, dtype=dtype, requires_grad=True)
    y, ref = conv(u), naive(conv, u)
    torch.testing.assert_close(y, ref, rtol=tol, atol=tol)
    for a, b in zip(torch.autograd.grad(y.pow(2).sum(), [u, conv.weight]),
                    torch.autograd.grad(ref.pow(2).sum(), [u, conv.weight]), strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    with torch.no_grad():
        head, state = conv.prefill(u[:, :2])  # shorter than the kernel's reach
        torch.testing.assert_close(head, y[:, :2], rtol=tol, atol=tol)
        for t in range(2, 9):
            out, state = conv.step(u[:, t], state)
            torch.testing.assert_close(out, y[:, t], rtol=tol, atol=tol)
        assert state.shape == (2, kernel - 1, 6)


def test_initialisation_and_factory_arguments() -> None:
    torch.manual_seed(0)
    conv = CausalConv(256, 8, dtype=torch.float64)
    assert conv.weight.dtype == torch.float64 and conv.weight.shape == (256, 8)
    assert abs(float(conv.weight.detach().std()) - CausalConv.STD) < 0.05 * CausalConv.STD
    with torch.no_grad():
        conv.weight.fill_(1.0)
    conv.reset_parameters()
    assert abs(float(conv.weight.detach().std()) - CausalConv.STD) < 0.05 * CausalConv.STD


def test_bad_kernel() -> None:
    with pytest.raises(ValueError, match="kernel: expected a positive int, received 0"):
        CausalConv(4, 0)
    with pytest.raises(ValueError, match="width: expected a positive int, received 0"):
        CausalConv(0, 2)
