"""p4 / p4m group convolutions: exact equivariance, one-conv fast path == per-element oracle.

forward == general == reference over random configurations is ``tests/test_families.py``;
here equivariance (of the layer and of its compiled expression), the oracle, the tie."""

import pytest
import torch
import torch.nn.functional as F

from prodint.groups import cyclic, dihedral, regular
from prodint.interaction import Expr, InteractionLayer, compile
from prodint.testing import assert_equivariant
from prodint.zoo.group_conv import GroupConv2d, LiftingConv2d, grid_group, transform_grid
from prodint.zoo.registry import ZooModule

GROUPS = ["C4", "D4"]


def _turn(group_name: str, u: int, x: torch.Tensor) -> torch.Tensor:
    """The test's own grid action: r = one quarter turn (rot90 on H, W), s = mirror of W."""
    k, f = (u % 4, u // 4)
    if group_name == "C4":
        k, f = u, 0
    if f:
        x = x.flip(-1)
    return torch.rot90(x, k, dims=(-2, -1))


def _actions(group_name: str):
    group = grid_group(group_name)
    rho = regular(group)

    def on_image(u: int, x: torch.Tensor) -> torch.Tensor:
        return _turn(group_name, u, x)

    def on_fields(u: int, x: torch.Tensor) -> torch.Tensor:
        # grid transform, then the regular representation on the group axis (dim 2)
        p = rho(u).to(x.dtype)
        return torch.einsum("gh,bch...->bcg...", p, _turn(group_name, u, x))

    return group, on_image, on_fields


@pytest.mark.parametrize("group_name", GROUPS)
@pytest.mark.parametrize("size", [(9, 9), (8, 11)])
def test_lifting_equivariant(group_name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    group, on_image, on_fields = _actions(group_name)
    layer = LiftingConv2d(group_name, 3, 4, 3, padding=1).double()
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    err = assert_equivariant(layer, (x,), actions_in=on_image, action_out=on_fields,
                             elements=list(range(group.order)), atol=1e-10, rtol=1e-10)
    assert err < 1e-10


@pytest.mark.parametrize("group_name", GROUPS)
@pytest.mark.parametrize("options", [dict(padding=1), dict(padding=0, dilation=2),
                                     dict(padding=1, stride=2)])
def test_group_conv_equivariant(group_name: str, options: dict) -> None:
    torch.manual_seed(1)
    group, _, on_fields = _actions(group_name)
    layer = GroupConv2d(group_name, 3, 2, 3, **options).double()
    x = torch.randn(2, 3, group.order, 9, 9, dtype=torch.float64)
    assert_equivariant(layer, (x,), actions_in=on_fields, action_out=on_fields,
                       elements=list(range(group.order)), atol=1e-10, rtol=1e-10)


def test_network_equivariant_and_invariant_pooling() -> None:
    torch.manual_seed(2)
    group, on_image, _ = _actions("D4")
    lift = LiftingConv2d("D4", 1, 3, 3, padding=1).double()
    conv = GroupConv2d("D4", 3, 2, 3, padding=1).double()

    def net(x: torch.Tensor) -> torch.Tensor:
        # pooling over the group and the grid leaves an invariant
        return conv(torch.relu(lift(x))).mean(dim=(2, 3, 4))

    x = torch.randn(2, 1, 7, 7, dtype=torch.float64)
    assert_equivariant(net, (x,), actions_in=on_image, action_out=None,
                       elements=list(range(group.order)))


@pytest.mark.parametrize("group_name", ["C4", "D4", "C2", "D2", "D1"])
@pytest.mark.parametrize("lifting", [True, False])
def test_fast_equals_oracle_and_expression(group_name: str, lifting: bool, dtype, tol) -> None:
    torch.manual_seed(3)
    order = grid_group(group_name).order
    if lifting:
        layer = LiftingConv2d(group_name, 3, 4, 3, padding=1)
        x0 = torch.randn(2, 3, 8, 7, dtype=dtype)
    else:
        layer = GroupConv2d(group_name, 3, 4, 3, padding=2, dilation=2)
        x0 = torch.randn(2, 3, order, 8, 7, dtype=dtype)
    layer.to(dtype)
    with torch.no_grad():
        layer.param("b").normal_()
    results = []
    for path in (layer.oracle, layer, layer.general, layer.reference):
        x = x0.clone().requires_grad_()
        out = path(x)
        w = torch.linspace(-1, 1, out.numel(), dtype=dtype).view(out.shape)
        grads = torch.autograd.grad((out * w).sum(), [x, *layer.parameters()])
        results.append((out.detach(), *grads))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def _hand_conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, pad: int) -> torch.Tensor:
    """Cross-correlation written as a sum over filter taps."""
    x = F.pad(x, (pad, pad, pad, pad))
    k = w.shape[-1]
    h, wd = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    out = torch.zeros(x.shape[0], w.shape[0], h, wd, dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            out += torch.einsum("bcyx,oc->boyx", x[..., i:i + h, j:j + wd], w[:, :, i, j])
    return out + b.view(1, -1, 1, 1)


def test_trivial_group_is_plain_conv() -> None:
    torch.manual_seed(4)
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    lift = LiftingConv2d("C1", 3, 4, 3, padding=1).double()
    with torch.no_grad():
        lift.param("b").normal_()
    expected = _hand_conv(x, lift.param("psi"), lift.param("b"), 1)
    torch.testing.assert_close(lift(x)[:, :, 0], expected, rtol=1e-10, atol=1e-10)
    conv = GroupConv2d(cyclic(1), 3, 4, 3, padding=1).double()
    expected = _hand_conv(x, conv.param("psi")[:, :, 0], conv.param("b"), 1)
    torch.testing.assert_close(conv(x[:, :, None])[:, :, 0], expected, rtol=1e-10, atol=1e-10)


def test_filter_bank_structure() -> None:
    torch.manual_seed(5)
    layer = GroupConv2d("D4", 2, 3, 3).double()
    bank = layer.filter_bank()  # [o, g, c, h, k, k]
    group = layer.group
    assert bank.shape == (3, 8, 2, 8, 3, 3)
    for g in range(8):
        for h in range(8):
            source = int(group.table[group.inverse[g], h])
            expected = _turn("D4", g, layer.param("psi")[:, :, source])
            torch.testing.assert_close(bank[:, g, :, h], expected, rtol=0, atol=0)


def test_contract() -> None:
    lift = LiftingConv2d("p4m", 1, 2, 3)
    conv = GroupConv2d(dihedral(4), 2, 2, 3, bias=False)
    for layer in (lift, conv):
        assert isinstance(layer, ZooModule) and isinstance(layer, InteractionLayer)
        assert isinstance(layer.expression, Expr)
        assert layer.self_interaction_order == 1
    assert not conv.has_param("b") and lift.group == dihedral(4)
    assert set(lift.state_dict()) == {"params.psi", "params.b"}
    wide = GroupConv2d("C4", 2, 3, 3, dtype=torch.float64)
    assert wide.param("psi").dtype == torch.float64 and wide.param("psi").shape == (3, 2, 4, 3, 3)
    assert wide.filter_bank().shape == (3, 4, 2, 4, 3, 3)
    assert grid_group("p4").name == "C4"
    assert "C4" in repr(GroupConv2d("C4", 1, 1, 1))


@pytest.mark.parametrize("group_name", GROUPS)
def test_compiled_expression_is_the_layer(group_name: str) -> None:
    """The expression alone, compiled with fresh parameters: the layer's parameter count
    (|G|·C·O·k² + O, not the bank's |G|²·C·O·k²) and exact equivariance."""
    group, _, on_fields = _actions(group_name)
    layer = GroupConv2d(group_name, 3, 2, 3, padding=1)
    compiled = compile(layer.expression, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(6))
    count = sum(p.numel() for p in compiled.parameters())
    assert count == sum(p.numel() for p in layer.parameters()) == group.order * 3 * 2 * 9 + 2
    with torch.no_grad():
        compiled.param("b").normal_()
    x = torch.randn(2, 3, group.order, 7, 7, dtype=torch.float64)
    err = assert_equivariant(compiled, (x,), actions_in=on_fields, action_out=on_fields,
                             elements=list(range(group.order)), atol=1e-12, rtol=1e-12)
    assert err < 1e-12
    # and it computes the layer: same ψ, same output
    layer.double().load_tensors(psi=compiled.param("psi"), b=compiled.param("b"))
    torch.testing.assert_close(compiled(x), layer(x), rtol=1e-12, atol=1e-12)


def test_grid_action_is_a_homomorphism() -> None:
    x = torch.arange(12.0).view(3, 4)
    for name in ("C4", "D4", "D2", "C2", "D1"):
        group = grid_group(name)
        for g in range(group.order):
            for h in range(group.order):
                gh = int(group.table[g, h])
                torch.testing.assert_close(
                    transform_grid(group, g, transform_grid(group, h, x)),
                    transform_grid(group, gh, x), rtol=0, atol=0)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="group"):
        LiftingConv2d("C8", 1, 1, 3)
    with pytest.raises(ValueError, match="group"):
        GroupConv2d(cyclic(8), 1, 1, 3)
    with pytest.raises(TypeError, match="group"):
        GroupConv2d(4, 1, 1, 3)
    with pytest.raises(TypeError, match="kernel_size: expected an int, received tuple"):
        GroupConv2d("C4", 1, 1, (3, 5))
    layer = GroupConv2d("C4", 2, 1, 3, stride=2)
    with pytest.raises(ValueError, match="x: expected"):
        layer(torch.randn(1, 2, 8, 9, 9))
    with pytest.raises(ValueError, match="stride"):
        layer(torch.randn(1, 2, 4, 8, 8))
    with pytest.raises(ValueError, match="x: expected"):
        LiftingConv2d("C4", 2, 1, 3)(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="element"):
        transform_grid(cyclic(4), 4, torch.zeros(2, 2))
