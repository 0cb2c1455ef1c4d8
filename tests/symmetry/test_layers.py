"""Equivariant layers: linear maps, TFN point convolution, SE(3) attention.

forward == general == reference of the linear maps over random configurations is
``tests/test_families.py``; the point layers are built of contract layers and state no
expression of their own (checked here), so they are held to an independent oracle."""

import pytest
import torch

from prodint.groups import equivariant_basis, so3_vector
from prodint.interaction import InteractionLayer, compile
from prodint.symmetry.graph import radius_graph, scatter_softmax
from prodint.symmetry.irreps import Irreps
from prodint.symmetry.linear import Linear, NormActivation
from prodint.symmetry.se3_attention import SE3Attention
from prodint.symmetry.so3 import irrep_representation, random_rotation
from prodint.symmetry.tfn import PointConvolution
from prodint.testing.equivariance import assert_equivariant

F64 = torch.float64


def _reflections() -> list[torch.Tensor]:
    return [-random_rotation(generator=torch.Generator().manual_seed(s)) for s in (7, 8)]


def _cloud(n: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, dim, generator=g, dtype=F64),
            torch.randn(n, 3, generator=g, dtype=F64))


def test_schur_equivariant_linear_maps_between_irreps() -> None:
    for l_in in range(3):
        for l_out in range(3):
            basis = equivariant_basis(irrep_representation(l_in), irrep_representation(l_out))
            assert basis.shape[0] == int(l_in == l_out)
            if l_in == l_out:
                eye = torch.eye(2 * l_in + 1, dtype=F64)
                assert torch.allclose(basis[0].abs(), eye / eye.norm(), atol=1e-12)


def test_linear_and_activation_are_o3_equivariant() -> None:
    torch.manual_seed(0)
    lin = Linear("3x0e + 2x0o + 2x1o + 1x2e", "2x0e + 1x0o + 3x1o + 1x1e + 2x2e",
                 bias=True).double()
    with torch.no_grad():
        lin.param("b").normal_()
    act = NormActivation("2x0e + 1x0o + 3x1o + 1x1e + 2x2e").double()
    x = torch.randn(6, lin.irreps_in.dim, dtype=F64)

    def model(t: torch.Tensor) -> torch.Tensor:
        return act(lin(t))

    rep_in, rep_out = lin.irreps_in.representation(), lin.irreps_out.representation()
    assert_equivariant(model, x, rep_in, rep_out, n_samples=3)
    assert_equivariant(model, x, actions_in=lambda q, t: t @ lin.irreps_in.D(q).T,
                       action_out=lambda q, t: t @ lin.irreps_out.D(q).T, elements=_reflections())
    out = lin(x)
    # 1e has no input of its type: it stays zero; the bias only reaches 0e.
    assert torch.equal(out[:, 2 + 1 + 9: 2 + 1 + 9 + 3], torch.zeros(6, 3, dtype=F64))
    assert lin.self_interaction_order == 1
    for fn in (lin.general, lin.reference):
        torch.testing.assert_close(fn(x), out, rtol=1e-12, atol=1e-12)


def test_linear_compiled_expression_has_its_weights_and_symmetry() -> None:
    lin = Linear("3x0e + 2x1o + 1x2e", "2x0e + 1x1o + 2x2e", bias=True)
    layer = compile(lin.expression, dtype=F64, generator=torch.Generator().manual_seed(2))
    assert sum(p.numel() for p in layer.parameters()) == 3 * 2 + 2 * 1 + 1 * 2 + 2
    with torch.no_grad():
        layer.param("b").normal_()
    x = torch.randn(4, lin.irreps_in.dim, dtype=F64)
    assert_equivariant(layer, x, lin.irreps_in.representation(),
                       lin.irreps_out.representation(), n_samples=3, atol=1e-12, rtol=1e-12)


def test_linear_without_a_common_irrep_is_the_zero_map_plus_bias() -> None:
    lin = Linear("2x1o", "1x0e + 1x1e", bias=True).double()
    with torch.no_grad():
        lin.param("b").fill_(0.5)
    x = torch.randn(3, 6, dtype=F64)
    expected = torch.tensor([[0.5, 0.0, 0.0, 0.0]] * 3, dtype=F64)
    for fn in (lin, lin.general, lin.reference):
        assert torch.equal(fn(x), expected)
    assert not lin.has_param("W") and lin.self_interaction_order == 1


def _check_point_layer(layer, x: torch.Tensor, pos: torch.Tensor) -> None:
    """E(3) equivariance: rotations (via Lie samples), reflections, translations."""
    ir_in, ir_out = layer.irreps_in, layer.irreps_out
    assert_equivariant(layer, (x, pos), [ir_in.representation(), so3_vector()],
                       ir_out.representation(), n_samples=3)
    shift = torch.tensor([0.3, -1.2, 2.0], dtype=F64)
    assert_equivariant(layer, (x, pos),
                       actions_in=[lambda q, t: t @ ir_in.D(q).T,
                                   lambda q, t: t @ q.T + shift],
                       action_out=lambda q, t: t @ ir_out.D(q).T, elements=_reflections())


def test_tfn_convolution_is_e3_equivariant_and_matches_its_expression() -> None:
    torch.manual_seed(0)
    conv = PointConvolution("3x0e + 2x1o + 1x2e", "2x0e + 1x0o + 2x1o + 1x1e + 1x2e",
                            lmax=2, r_max=2.0, avg_neighbors=4.0).double()
    x, pos = _cloud(14, conv.irreps_in.dim)
    edges = radius_graph(pos, 2.0)
    assert 0 < edges.shape[1] < 14 * 13  # a genuine neighbourhood, not all pairs
    _check_point_layer(conv, x, pos)
    out = conv(x, pos)
    assert float((conv.oracle(x, pos) - out).detach().abs().max()) < 1e-12
    # Float32 agrees with float64 to float32 rounding.
    conv32 = conv.float()
    assert float((conv32(x.float(), pos.float()).double() - out).detach().abs().max()) < 1e-4


def test_tfn_batches_clouds_independently() -> None:
    torch.manual_seed(0)
    conv = PointConvolution("2x0e", "1x0e + 1x1o", lmax=1, r_max=3.0).double()
    x, pos = _cloud(10, 2)
    batch = torch.tensor([0] * 5 + [1] * 5)
    joint = conv(x, pos, batch=batch)
    assert torch.allclose(joint[:5], conv(x[:5], pos[:5]), atol=1e-12)
    assert torch.allclose(joint[5:], conv(x[5:], pos[5:] + 100.0), atol=1e-12)


def test_se3_attention_is_e3_equivariant_and_matches_its_expression() -> None:
    torch.manual_seed(0)
    attn = SE3Attention("3x0e + 2x1o", "2x0e + 2x1o + 1x2e", "2x0e + 2x1o + 1x1e",
                        lmax=2, r_max=2.5).double()
    x, pos = _cloud(12, attn.irreps_in.dim, seed=1)
    _check_point_layer(attn, x, pos)
    out = attn(x, pos)
    assert float((attn.oracle(x, pos) - out).detach().abs().max()) < 1e-12


def test_point_layers_state_no_expression_but_their_parts_do() -> None:
    conv = PointConvolution("2x0e + 1x1o", "1x0e + 1x1o", lmax=1)
    attn = SE3Attention("2x0e + 1x1o", "1x0e", "1x0e", lmax=1)
    for layer, name in ((conv, "PointConvolution"), (attn, "SE3Attention")):
        with pytest.raises(NotImplementedError, match=f"{name}: the expression language "
                                                      "cannot state this layer"):
            _ = layer.expression
        with pytest.raises(NotImplementedError, match="neighbour graph"):
            _ = layer.self_interaction_order
    assert isinstance(conv.tp, InteractionLayer) and conv.tp.self_interaction_order == 2
    assert isinstance(conv.linear, InteractionLayer) and conv.linear.self_interaction_order == 1
    assert isinstance(attn.tp_value, InteractionLayer)


def test_scatter_softmax_normalises_per_destination() -> None:
    logits = torch.tensor([1000.0, 1001.0, -3.0, 0.5], dtype=F64)
    index = torch.tensor([0, 0, 1, 1])
    alpha = scatter_softmax(logits, index, 3)
    assert torch.allclose(alpha[:2].sum(), torch.tensor(1.0, dtype=F64))
    assert torch.allclose(alpha[2:].sum(), torch.tensor(1.0, dtype=F64))
    assert torch.allclose(alpha[:2], torch.softmax(logits[:2], 0))


def test_point_layers_reject_bad_input_by_name() -> None:
    conv = PointConvolution("2x0e + 1x1o", "1x0e", lmax=1)
    x, pos = torch.zeros(4, 5), torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"pos: expected shape \[N, 3\], received \(4, 2\)"):
        conv(x, torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"x: expected shape \[\.\.\., 5\] for irreps "
                                         r"2x0e \+ 1x1o, received \(4, 4\)"):
        conv(torch.zeros(4, 4), pos)
    with pytest.raises(ValueError, match=r"x: expected shape \[3, 5\] \(one row per point"):
        conv(x, torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"edge_index: expected node indices in 0\.\.3"):
        conv(x, pos, torch.tensor([[0, 5], [1, 2]]))
    with pytest.raises(TypeError, match="edge_index: expected a long tensor"):
        conv(x, pos, torch.zeros(2, 3))
    attn = SE3Attention("2x0e + 1x1o", "1x0e", "1x0e", lmax=1)
    with pytest.raises(ValueError, match=r"pos: expected shape \[N, 3\]"):
        attn(x, torch.zeros(4, 3, 1))
    assert Irreps("1x0e").dim == attn(x, pos).shape[-1]
