"""Clifford layers: one folded matmul == cliffordlayers == blade-by-blade oracle == expression.

forward == general == reference over random configurations is ``tests/test_families.py``;
here the layers against the peer and against the independent blade-by-blade oracle."""

import pytest
import torch
from torch import nn

from prodint.algebra import clifford
from prodint.interaction import Expr, InteractionLayer
from prodint.interaction.fold import fold_tables
from prodint.zoo import from_torch
from prodint.zoo.clifford import (
    CliffordConv1d,
    CliffordConv2d,
    CliffordConv3d,
    CliffordLinear,
    clifford_algebra,
)
from prodint.zoo.clifford_peer import from_cliffordlayers
from prodint.zoo.registry import ZooModule

peer_linear = pytest.importorskip("cliffordlayers.nn.modules.cliffordlinear")
peer_conv = pytest.importorskip("cliffordlayers.nn.modules.cliffordconv")

TOL = 1e-10


def _outputs_and_grads(fn, params: list[torch.Tensor], x0: torch.Tensor):
    x = x0.clone().requires_grad_()
    out = fn(x)
    w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view(out.shape)
    grads = torch.autograd.grad((out * w).sum(), [x, *params])
    return out.detach(), grads


def _compare_with_peer(peer: nn.Module, x0: torch.Tensor, tol: float = TOL) -> nn.Module:
    layer = from_cliffordlayers(peer)
    n = layer.n_blades
    # cliffordlayers' weight is one tensor [n, o, i] (linear) or n tensors [o, i, *k] (conv)
    stacked = isinstance(peer.weight, nn.ParameterList)
    weights_p = list(peer.weight) if stacked else [peer.weight]
    out_p, grads_p = _outputs_and_grads(peer, [*weights_p, peer.bias], x0)
    out, grads = _outputs_and_grads(layer, [layer.param("W"), layer.param("b")], x0)
    torch.testing.assert_close(out, out_p, rtol=tol, atol=tol)
    torch.testing.assert_close(grads[0], grads_p[0], rtol=tol, atol=tol)  # input
    weight_p = torch.stack(grads_p[1:1 + n]) if stacked else grads_p[1]
    torch.testing.assert_close(grads[1], weight_p, rtol=tol, atol=tol)
    torch.testing.assert_close(grads[2], grads_p[-1], rtol=tol, atol=tol)  # bias
    return layer


@pytest.mark.parametrize("g", [(1, 1), (1, 1, 1), (-1,), (1,), (-1, -1), (-1, 1), (1, -1, 0)])
def test_linear_matches_cliffordlayers(g: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    peer = peer_linear.CliffordLinear(g, 3, 5).double()
    x = torch.randn(6, 3, 2 ** len(g), dtype=torch.float64)
    _compare_with_peer(peer, x)


@pytest.mark.parametrize("g", [(-1,), (1,)])
@pytest.mark.parametrize("options", [dict(kernel_size=3, padding=1),
                                     dict(kernel_size=2, stride=2, padding=2, dilation=2)])
def test_conv1d_matches_cliffordlayers(g: tuple[int, ...], options: dict) -> None:
    torch.manual_seed(1)
    peer = peer_conv.CliffordConv1d(g, 3, 4, **options).double()
    _compare_with_peer(peer, torch.randn(2, 3, 11, 2, dtype=torch.float64))


@pytest.mark.parametrize("g", [(1, 1), (-1, -1), (-1, 1)])
@pytest.mark.parametrize("options", [dict(kernel_size=3, padding=1),
                                     dict(kernel_size=(3, 1), stride=(2, 1), padding=(0, 1))])
def test_conv2d_matches_cliffordlayers(g: tuple[int, ...], options: dict) -> None:
    torch.manual_seed(2)
    peer = peer_conv.CliffordConv2d(g, 3, 4, **options).double()
    _compare_with_peer(peer, torch.randn(2, 3, 7, 6, 4, dtype=torch.float64))


def test_conv3d_matches_cliffordlayers() -> None:
    torch.manual_seed(3)
    peer = peer_conv.CliffordConv3d((1, 1, 1), 2, 3, kernel_size=3, padding=1).double()
    _compare_with_peer(peer, torch.randn(2, 2, 4, 3, 5, 8, dtype=torch.float64))


def test_from_torch_converts_peer_layers() -> None:
    layer = from_torch(peer_linear.CliffordLinear((1, 1, 1), 2, 2))
    assert isinstance(layer, CliffordLinear) and layer.algebra.name == "Cl(3,0,0)"
    layer = from_torch(peer_conv.CliffordConv2d((1, 1), 2, 2, kernel_size=3))
    assert isinstance(layer, CliffordConv2d)
    with pytest.raises(ValueError, match="rotation"):
        from_cliffordlayers(peer_conv.CliffordConv2d((-1, -1), 2, 2, rotation=True))
    with pytest.raises(TypeError, match="module"):
        from_cliffordlayers(nn.Linear(2, 2))


LAYERS = [
    ("linear", lambda g: CliffordLinear(g, 3, 4), (5, 3)),
    ("conv1d", lambda g: CliffordConv1d(g, 2, 3, kernel_size=3, padding=1, stride=2), (2, 2, 7)),
    ("conv2d", lambda g: CliffordConv2d(g, 2, 2, kernel_size=(3, 2), dilation=(1, 2)),
     (1, 2, 5, 6)),
]


@pytest.mark.parametrize("g", [(1, 1, 1), (0, -1), (-1,)])
@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[c[0] for c in LAYERS])
def test_fast_equals_oracle_and_expression(name, make, shape, g, dtype, tol) -> None:
    torch.manual_seed(4)
    layer = make(g).to(dtype)
    with torch.no_grad():
        layer.param("b").normal_()
    x0 = torch.randn(*shape, 2 ** len(g), dtype=dtype)
    params = [layer.param("W"), layer.param("b")]
    results = [_outputs_and_grads(fn, params, x0)
               for fn in (layer.oracle, layer, layer.general, layer.reference)]
    for out, grads in results[1:]:
        torch.testing.assert_close(out, results[0][0], rtol=tol, atol=tol)
        for a, b in zip(grads, results[0][1], strict=True):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def test_real_weight_is_right_multiplication() -> None:
    """W_real maps x to x·w: one channel, checked against the algebra's own product."""
    torch.manual_seed(5)
    layer = CliffordLinear((1, 1, 1), 1, 1, bias=False).double()
    alg = layer.algebra.to_dtype(torch.float64)
    x = torch.randn(4, 1, 8, dtype=torch.float64)
    expected = alg.mul(x[:, 0], layer.param("W")[:, 0, 0].expand(4, 8))
    torch.testing.assert_close(layer(x)[:, 0], expected, rtol=1e-12, atol=1e-12)


def test_signature_relabelling() -> None:
    assert clifford_algebra((1, 1)).name == clifford(2).name
    alg = clifford_algebra((0, -1, 1)).to_dtype(torch.float64)
    e = alg.basis()
    for j, square in enumerate((0.0, -1.0, 1.0)):
        torch.testing.assert_close(alg.mul(e[1 + j], e[1 + j]), square * e[0])
    assert alg.is_associative()
    # e1 e2 = e12 in the relabelled basis, as in cliffordlayers
    torch.testing.assert_close(alg.mul(e[1], e[2]), e[4])
    # one b and a sign per (a, c): the fold of a Clifford algebra is a gather and a sign
    index, sign = fold_tables(clifford(2), "right")
    assert index.shape == (4, 4, 1) and sign.abs().sum() == 16
    assert set(sign.flatten().tolist()) == {-1.0, 1.0}
    # a degenerate generator (e3² = 0) leaves (a, c) pairs that no b reaches: weight 0
    _, sign = fold_tables(clifford(1, 0, 1), "right")
    assert int((sign == 0).sum()) == 16 - 12


def test_contract_and_bad_input() -> None:
    for layer in (CliffordLinear((1, 1), 2, 3), CliffordConv1d((-1,), 2, 3),
                  CliffordConv2d((1, 1), 2, 3), CliffordConv3d((1, 1, 1), 2, 3, bias=False)):
        assert isinstance(layer, ZooModule) and isinstance(layer.expression, Expr)
        assert isinstance(layer, InteractionLayer) and layer.self_interaction_order == 1
        # the fold is a tie: the parameters are the multivector filters, n per channel pair
        taps = 3 ** len(layer.kernel_size)
        bias = 3 * layer.n_blades if layer.has_param("b") else 0
        assert sum(p.numel() for p in layer.parameters()) == \
            layer.n_blades * 3 * 2 * taps + bias
        assert all(key.startswith("params.") for key in layer.state_dict())
    with pytest.raises(ValueError, match="signature"):
        CliffordLinear((2, 1), 2, 2)
    with pytest.raises(TypeError, match="signature"):
        CliffordLinear("11", 2, 2)
    with pytest.raises(ValueError, match="x: expected"):
        CliffordLinear((1, 1), 2, 2)(torch.randn(3, 2, 8))
    with pytest.raises(ValueError, match="x: expected"):
        CliffordConv2d((1, 1), 2, 2)(torch.randn(3, 2, 8, 4))
    with pytest.raises(ValueError, match="groups"):
        CliffordConv2d((1, 1), 2, 2, groups=2)
    with pytest.raises(ValueError, match="in_channels"):
        CliffordLinear((1, 1), 0, 2)
