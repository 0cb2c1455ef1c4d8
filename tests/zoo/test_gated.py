"""Order-2 families: GLU, SwiGLU, Bilinear against torch; native == general == reference."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from prodint.zoo import from_torch
from prodint.zoo.gated import GLU, Bilinear, SwiGLU


def _paths_agree(layer, *inputs, tol) -> None:
    ref = layer.reference(*inputs)
    for path in (layer, layer.general):
        torch.testing.assert_close(path(*inputs), ref, rtol=tol, atol=tol)


def test_glu_matches_torch(dtype, tol) -> None:
    torch.manual_seed(0)
    layer = GLU(5, 7).to(dtype)
    x = torch.randn(3, 4, 5, dtype=dtype)
    w = torch.cat([layer.param("W1"), layer.param("W2")])
    b = torch.cat([layer.param("b1"), layer.param("b2")])
    torch.testing.assert_close(layer(x), F.glu(F.linear(x, w, b)), rtol=tol, atol=tol)
    _paths_agree(layer, x, tol=tol)
    assert layer.self_interaction_order == 2


def test_swiglu(dtype, tol) -> None:
    torch.manual_seed(0)
    layer = SwiGLU(5, 8, 3).to(dtype)
    x = torch.randn(2, 5, dtype=dtype)
    w1, w2, w3 = (layer.param(n) for n in ("W1", "W2", "W3"))
    expected = (F.silu(x @ w1.T) * (x @ w2.T)) @ w3.T
    torch.testing.assert_close(layer(x), expected, rtol=tol, atol=tol)
    _paths_agree(layer, x, tol=tol)
    assert layer.self_interaction_order == 2


@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_from_torch(bias: bool) -> None:
    torch.manual_seed(0)
    module = nn.Bilinear(4, 3, 5, bias=bias).double()
    layer = from_torch(module)
    x1 = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(layer(x1, x2), module(x1, x2))
    _paths_agree(layer, x1, x2, tol=1e-10)
    g_torch = torch.autograd.grad(module(x1, x2).sum(), [x1, x2, module.weight])
    g_ours = torch.autograd.grad(layer.general(x1, x2).sum(), [x1, x2, layer.param("A")])
    for a, b in zip(g_ours, g_torch, strict=True):
        torch.testing.assert_close(a, b)
    assert layer.self_interaction_order == 2


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"x: expected \[\.\.\., in_features=5\]"):
        GLU(5, 3)(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"x2: expected \[\.\.\., in2_features=3\]"):
        Bilinear(4, 3, 2)(torch.randn(2, 4), torch.randn(2, 4))
    with pytest.raises(TypeError, match=r"x: expected a torch.Tensor \[\.\.\., in_features=3\], "
                                        r"received ndarray"):
        SwiGLU(3, 4, 2)(torch.randn(2, 3).numpy())
