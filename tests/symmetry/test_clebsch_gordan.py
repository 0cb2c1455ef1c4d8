"""CG coefficients from the solver: selection rules, dimensions, normalisation, e3nn oracle."""

import itertools

import pytest
import torch
from e3nn import o3

from prodint.groups import direct_sum, equivariant_basis, tensor_product
from prodint.symmetry.clebsch_gordan import bilinear_basis, clebsch_gordan, selection_rule
from prodint.symmetry.irreps import Irrep, Irreps
from prodint.symmetry.so3 import irrep_representation, random_rotation, wigner_D
from prodint.symmetry.tensor_product import TensorProduct

F64 = torch.float64
IRREPS = [Irrep(l, p) for l in range(3) for p in (1, -1)]


def test_dimension_of_each_space_is_the_selection_rule() -> None:
    for a, b, c in itertools.product(IRREPS, repeat=3):
        dim = bilinear_basis(a, b, c).shape[0]
        allowed = abs(a.l - b.l) <= c.l <= a.l + b.l and c.p == a.p * b.p
        assert dim == int(allowed) == int(selection_rule(a, b, c)), (a, b, c)


def test_dimension_for_a_whole_layout_is_the_number_of_paths() -> None:
    """The solver on the full (reducible) representations finds one map per allowed path."""
    layout = Irreps("0e + 1o + 1e")
    rep = direct_sum(*[irrep_representation(ir.l) for _, ir in layout])
    so3_dim = equivariant_basis(tensor_product(rep, rep), rep).shape[0]
    triangle = sum(abs(a.l - b.l) <= c.l <= a.l + b.l
                   for (_, a), (_, b), (_, c) in itertools.product(layout, repeat=3))
    # l in (0, 1, 1): 1 (0x0->0) + 4·2 (0x1->1, 1x0->1) + 4·3 (1x1->0, 1, 1) = 21
    assert so3_dim == triangle == 21
    with_parity = sum(selection_rule(a, b, c)
                      for (_, a), (_, b), (_, c) in itertools.product(layout, repeat=3))
    # O(3): parity keeps the triples with p3 = p1 p2 (1o x 1o -> 1o is dropped, ...).
    assert with_parity == len(TensorProduct(layout, layout, layout).paths) == 11


def test_cg_is_equivariant_unit_norm_and_an_isometry_up_to_scale() -> None:
    rots = random_rotation(3, generator=torch.Generator().manual_seed(0))
    for l1, l2 in itertools.product(range(3), repeat=2):
        for l3 in range(abs(l1 - l2), l1 + l2 + 1):
            c = clebsch_gordan(Irrep(l1, (-1) ** l1), Irrep(l2, (-1) ** l2),
                               Irrep(l3, (-1) ** (l1 + l2)))
            assert abs(float(c.norm()) - 1) < 1e-12
            gram = torch.einsum("ijk,ijm->km", c, c)
            assert torch.allclose(gram, torch.eye(2 * l3 + 1, dtype=F64) / (2 * l3 + 1),
                                  atol=1e-12)
            for r in rots:
                d1, d2, d3 = (wigner_D(l, r) for l in (l1, l2, l3))
                moved = torch.einsum("ijk,ia,jb->abk", c, d1, d2)
                assert float((moved - torch.einsum("abk,mk->abm", c, d3)).abs().max()) < 1e-12


def test_forbidden_path_raises() -> None:
    with pytest.raises(ValueError, match="ir3: 1o is not in 1o ⊗ 1o"):
        clebsch_gordan("1o", "1o", "1o")


def _dense_map(module, d1: int, d2: int) -> torch.Tensor:
    """Γ[a, b, c] of a bilinear module, read off basis vectors."""
    e1, e2 = torch.eye(d1, dtype=F64), torch.eye(d2, dtype=F64)
    with torch.no_grad():
        out = module(e1[:, None, :].expand(d1, d2, d1).reshape(-1, d1),
                     e2[None, :, :].expand(d1, d2, d2).reshape(-1, d2))
    return out.reshape(d1, d2, -1)


@pytest.mark.parametrize("irreps1, irreps2, irreps_out, normalization", [
    ("2x0e + 1x1o + 1x2e", "1x0e + 1x1o + 1x1e", "1x0e + 2x1o + 1x1e + 1x2e + 1x0o", "component"),
    ("16x0e + 16x1o", "16x0e + 16x1o", "16x0e + 16x1o", "component"),
    ("1x1o + 2x2o", "1x1o + 1x2e", "2x0e + 1x1e + 1x2o + 1x3o", "norm"),
])
def test_e3nn_bilinear_map_lies_in_the_span_of_the_solver_basis(
        irreps1: str, irreps2: str, irreps_out: str, normalization: str) -> None:
    """e3nn's FullyConnectedTensorProduct Γ, expanded in prodint's per-path basis
    (W_p[u,v,w] ⊗ C_p, with the identity basis change), leaves a rounding-level residual, and
    the coefficient sizes are e3nn's weights times prodint's path constants α_p."""
    torch.manual_seed(0)
    # Built under float64 default so e3nn's own wigner_3j buffers are exact to float64.
    default = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        theirs = o3.FullyConnectedTensorProduct(irreps1, irreps2, irreps_out,
                                                irrep_normalization=normalization)
    finally:
        torch.set_default_dtype(default)
    ours = TensorProduct(irreps1, irreps2, irreps_out, normalization=normalization)
    assert len(ours.paths) == len(theirs.instructions)
    assert ours.param("W").numel() == theirs.weight.numel()
    gamma = _dense_map(theirs, ours.irreps1.dim, ours.irreps2.dim)
    s1, s2, s3 = ours.irreps1.slices(), ours.irreps2.slices(), ours.irreps_out.slices()
    columns, residual = [], gamma.clone()
    for p in ours.paths:
        cg = clebsch_gordan(p.ir1, p.ir2, p.ir_out)
        block = gamma[s1[p.i1], s2[p.i2], s3[p.i_out]].reshape(
            p.mul1, p.ir1.dim, p.mul2, p.ir2.dim, p.mul_out, p.ir_out.dim)
        coef = torch.einsum("uivjwk,ijk->uvw", block, cg)  # C has unit norm: projection
        fit = torch.einsum("uvw,ijk->uivjwk", coef, cg).reshape(block.shape[0] * block.shape[1],
                                                                -1, p.mul_out * p.ir_out.dim)
        residual[s1[p.i1], s2[p.i2], s3[p.i_out]] -= fit
        expected = p.alpha * theirs.weight[p.weights].detach().view(p.mul1, p.mul2, p.mul_out)
        columns.append((coef.abs() - expected.abs()).abs().max())
    assert float(residual.abs().max()) < 1e-10 * max(1.0, float(gamma.abs().max()))
    assert float(max(columns)) < 1e-10
