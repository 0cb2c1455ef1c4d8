"""SO(2): circular harmonics, the solver's bilinear bases, harmonic convolution."""

import math

import pytest
import torch

from prodint.interaction import compile
from prodint.symmetry.harmonic_conv import HarmonicConv2d, rotate_fields
from prodint.symmetry.so2 import (
    CircularIrreps,
    circular_D,
    circular_harmonics,
    circular_representation,
    so2_bilinear_basis,
    so2_path_dimension,
)
from prodint.testing.equivariance import assert_equivariant

F64 = torch.float64


def test_bilinear_basis_dimensions_follow_the_decomposition_rule() -> None:
    for k in range(4):
        for m1 in range(4):
            for m2 in range(4):
                basis = so2_bilinear_basis(k, m1, m2)
                assert basis.shape[0] == so2_path_dimension(k, m1, m2), (k, m1, m2)
    assert so2_path_dimension(1, 1, 0) == 2  # dot and cross product
    assert so2_path_dimension(1, 2, 3) == 2 and so2_path_dimension(1, 2, 2) == 0


def test_bilinear_basis_is_equivariant_and_harmonics_rotate() -> None:
    theta = torch.tensor(0.7, dtype=F64)
    phi = torch.linspace(-3, 3, 11, dtype=F64)
    for m in range(4):
        assert torch.allclose(circular_harmonics(m, phi + theta),
                              circular_harmonics(m, phi) @ circular_D(m, theta).T, atol=1e-12)
        gen = circular_representation(m).matrix_exp(theta)
        assert torch.allclose(gen, circular_D(m, theta), atol=1e-12)
    for k, m1, m2 in ((1, 1, 2), (2, 1, 1), (1, 1, 0), (0, 2, 2)):
        for b in so2_bilinear_basis(k, m1, m2):
            moved = torch.einsum("bac,bi,aj->ijc", b, circular_D(k, theta), circular_D(m1, theta))
            assert torch.allclose(moved, torch.einsum("bac,dc->bad", b, circular_D(m2, theta)),
                                  atol=1e-12)


def _layer() -> HarmonicConv2d:
    torch.manual_seed(0)
    return HarmonicConv2d("2x0 + 1x1", "2x0 + 2x1 + 1x2", kernel_size=5).double()


def test_harmonic_conv_is_exactly_equivariant_under_quarter_turns() -> None:
    conv = _layer()
    x = torch.randn(2, conv.irreps_in.dim, 9, 9, dtype=F64)
    error = assert_equivariant(conv, x,
                               actions_in=lambda q, t: rotate_fields(t, conv.irreps_in, q),
                               action_out=lambda q, t: rotate_fields(t, conv.irreps_out, q),
                               elements=[1, 2, 3])
    assert error < 1e-10
    for fn in (conv.general, conv.reference):
        assert float((fn(x) - conv(x)).detach().abs().max()) < 1e-12
    assert conv.self_interaction_order == 1


def test_compiled_expression_is_the_harmonic_conv() -> None:
    """The expression alone, with fresh radial values: the layer's parameter count and exact
    quarter-turn equivariance (the filter constraint is in the expression's tie)."""
    conv = _layer()
    layer = compile(conv.expression, dtype=F64, generator=torch.Generator().manual_seed(1))
    assert sum(p.numel() for p in layer.parameters()) == \
        sum(p.numel() for p in conv.parameters()) == conv.param("R").numel() + 2
    with torch.no_grad():
        layer.param("b").normal_()
    x = torch.randn(2, conv.irreps_in.dim, 9, 9, dtype=F64)
    error = assert_equivariant(layer, x,
                               actions_in=lambda q, t: rotate_fields(t, conv.irreps_in, q),
                               action_out=lambda q, t: rotate_fields(t, conv.irreps_out, q),
                               elements=[1, 2, 3], atol=1e-12, rtol=1e-12)
    assert error < 1e-12


def test_filter_bank_is_the_radial_basis_expansion() -> None:
    """K(q) = Σ R(|q|) Σ_b B[b, a, c] h_k(φ)_b, written out for one block pair: 1x0 → 1x1,
    where the only harmonic is k = 1 and the solver's basis has two elements."""
    conv = HarmonicConv2d("1x0", "1x1", kernel_size=3, bias=False).double()
    bank = conv.filter_bank()  # [2, 1, 3, 3]
    radial = conv.param("R").view(2, 3)  # [term, ring]: rings |q|² = 0, 1, 2
    basis = so2_bilinear_basis(1, 0, 1)  # [2, dim_k=2, 1, 2]
    fan = 2 * 3  # input channels (1) × terms × rings
    for i in range(3):
        for j in range(3):
            px, py = j - 1, 1 - i
            r2 = px * px + py * py
            if r2 == 0:  # h_1 has no value at the centre
                assert torch.equal(bank[:, 0, i, j], torch.zeros(2, dtype=F64))
                continue
            h = circular_harmonics(1, torch.tensor(math.atan2(py, px), dtype=F64))
            expected = sum(radial[t, r2] * torch.einsum("bc,b->c", basis[t, :, 0], h)
                           for t in range(2)) / math.sqrt(fan)
            torch.testing.assert_close(bank[:, 0, i, j], expected, rtol=1e-12, atol=1e-12)


def test_harmonic_conv_is_nearly_equivariant_for_other_angles_on_smooth_inputs() -> None:
    """A 45-degree turn is not a grid symmetry; for a wide, off-centre Gaussian blob the field
    at the centre of rotation (the only fixed pixel) still turns by D_1(45°), to about 4 %."""
    torch.manual_seed(0)
    conv = HarmonicConv2d("1x0", "1x1", kernel_size=7).double()
    n = 41
    c = torch.arange(n, dtype=F64) - n // 2
    yy, xx = torch.meshgrid(-c, c, indexing="ij")

    def blob(angle: float) -> torch.Tensor:
        u = math.cos(angle) * xx + math.sin(angle) * yy
        v = -math.sin(angle) * xx + math.cos(angle) * yy
        return torch.exp(-((u - 3) / 8) ** 2 - (v / 4) ** 2)[None, None]

    with torch.no_grad():
        base, turned = conv(blob(0.0)), conv(blob(math.pi / 4))
    centre = n // 2
    expected = circular_D(1, math.pi / 4) @ base[0, :, centre, centre]
    scale = float(base[0, :, centre, centre].norm())
    assert scale > 1e-3
    assert float((turned[0, :, centre, centre] - expected).abs().max()) < 0.1 * scale


def test_harmonic_conv_rejects_bad_input() -> None:
    conv = _layer()
    with pytest.raises(ValueError, match=r"x: expected shape \[B, 4, H, W\] for layout "
                                         r"2x0 \+ 1x1, received \(1, 3, 9, 9\)"):
        conv(torch.zeros(1, 3, 9, 9, dtype=F64))
    with pytest.raises(ValueError, match="kernel_size: expected an odd positive int"):
        HarmonicConv2d("1x0", "1x1", kernel_size=4)
    with pytest.raises(ValueError, match="irreps_out: no equivariant filter maps 1x0 to 1x2"):
        HarmonicConv2d("1x0", "1x2", kernel_size=3, max_order=1)
    with pytest.raises(ValueError, match="spec"):
        CircularIrreps("2xa")


def test_irreps_and_layers_copy_and_pickle() -> None:
    import copy
    import pickle

    irreps = CircularIrreps("2x0 + 1x1")
    assert copy.deepcopy(irreps).blocks == irreps.blocks == ((2, 0), (1, 1))
    assert pickle.loads(pickle.dumps(irreps)).blocks == irreps.blocks
    layer = HarmonicConv2d(irreps, irreps, 3, dtype=torch.float64)
    twin = copy.deepcopy(layer)
    x = torch.randn(1, irreps.dim, 7, 7, dtype=torch.float64)
    assert torch.equal(twin(x), layer(x))
