"""Boundary entries of prodint.symmetry: every public layer and function under hostile
arguments."""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.symmetry import (
    ChannelwiseTensorProduct,
    CircularIrreps,
    HarmonicConv2d,
    Irrep,
    Irreps,
    Linear,
    NormActivation,
    PointConvolution,
    SE3Attention,
    TensorProduct,
    bilinear_basis,
    circular_D,
    circular_harmonics,
    clebsch_gordan,
    generators,
    random_rotation,
    rotate_fields,
    rotation_matrix,
    rotation_vector,
    selection_rule,
    sh_irreps,
    spherical_harmonics,
    wigner_D,
)
from prodint.testing.contract import Entry

F64 = torch.float64


def _randn(*shape: int, seed: int = 0) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(1)


def _opts(a: dict, generator: bool = True) -> dict[str, object]:
    """The layer options of ``a``; the generator reseeded, so that a call and its equivalent
    call draw the same parameters."""
    names = ("device", "dtype", "generator") if generator else ("device", "dtype")
    if isinstance(a.get("generator"), torch.Generator):
        a["generator"].manual_seed(1)
    return {k: a[k] for k in names}


def _rotation() -> Tensor:
    return random_rotation(generator=torch.Generator().manual_seed(3))


def _cloud() -> dict[str, object]:
    pos = _randn(5, 3, seed=4)
    return dict(pos=pos, edge_index=torch.tensor([[0, 1, 2, 3, 4, 1], [1, 0, 3, 2, 0, 4]]),
                batch=torch.tensor([0, 0, 0, 1, 1]))


def _seeded(build):
    """``build`` under a fixed global seed (the graph layers draw with torch's default
    generator)."""
    torch.manual_seed(0)
    return build()


ENTRIES = [
    Entry(("prodint.symmetry.Irrep",), lambda a: Irrep(**a).dim, lambda: dict(l=2, p=-1)),
    Entry(("prodint.symmetry.Irrep",), lambda a: Irrep(**a).dim, lambda: dict(l="3e")),
    Entry(("prodint.symmetry.Irreps",), lambda a: Irreps(a["spec"]).D(a["rotation"]),
          lambda: dict(spec="2x0e + 1x1o + 1x2e", rotation=_rotation()),
          # any string is a spec to parse, and the empty one is the documented empty layout
          free_text=frozenset({"spec"})),
    Entry(("prodint.symmetry.Irreps",), lambda a: Irreps(**a).dim,
          lambda: dict(spec=[(2, "0e"), (1, Irrep(1, -1))])),
    Entry(("prodint.symmetry.CircularIrreps",), lambda a: CircularIrreps(a["spec"]).D(a["theta"]),
          lambda: dict(spec="2x0 + 1x1 + 1x3", theta=0.7)),
    Entry(("prodint.symmetry.TensorProduct",),
          lambda a: TensorProduct(a["irreps1"], a["irreps2"], a["irreps_out"],
                                  a["normalization"], **_opts(a))(a["x"], a["y"]),
          lambda: dict(irreps1="2x0e + 1x1o", irreps2="1x0e + 1x1o", irreps_out="1x0e + 2x1o",
                       normalization="norm", x=_randn(3, 5), y=_randn(3, 4, seed=1),
                       device="cpu", dtype=F64, generator=_gen())),
    Entry(("prodint.symmetry.ChannelwiseTensorProduct",),
          lambda a: ChannelwiseTensorProduct(a["irreps1"], a["irreps2"], a["targets"],
                                             a["normalization"], **_opts(a, False))(
              a["x"], a["y"], a["weight"]),
          lambda: dict(irreps1="2x0e + 1x1o", irreps2="1x0e + 1x1o", targets=["0e", "1o"],
                       normalization="component", x=_randn(3, 5), y=_randn(3, 4, seed=1),
                       weight=_randn(3, 6, seed=2), device="cpu", dtype=F64)),
    Entry(("prodint.symmetry.Linear",),
          lambda a: Linear(a["irreps_in"], a["irreps_out"], a["bias"], **_opts(a))(a["x"]),
          lambda: dict(irreps_in="2x0e + 1x1o", irreps_out="3x0e + 2x1o", bias=True,
                       x=_randn(4, 5), device="cpu", dtype=F64, generator=_gen())),
    Entry(("prodint.symmetry.NormActivation",),
          lambda a: NormActivation(a["irreps"], a["eps"])(a["x"]),
          lambda: dict(irreps="2x0e + 1x0o + 2x1o", eps=1e-9, x=_randn(4, 9))),
    Entry(("prodint.symmetry.HarmonicConv2d",),
          lambda a: HarmonicConv2d(a["irreps_in"], a["irreps_out"], a["kernel_size"],
                                   a["max_order"], a["padding"], a["bias"], **_opts(a))(a["x"]),
          lambda: dict(irreps_in="1x0 + 1x1", irreps_out="2x0 + 1x1", kernel_size=3,
                       max_order=1, padding=1, bias=True, x=_randn(2, 3, 5, 5),
                       device="cpu", dtype=F64, generator=_gen())),
    Entry(("prodint.symmetry.rotate_fields",), lambda a: rotate_fields(**a),
          lambda: dict(x=_randn(2, 3, 4, 4), irreps=CircularIrreps("1x0 + 1x1"),
                       quarter_turns=3)),
    Entry(("prodint.symmetry.PointConvolution",),
          lambda a: _seeded(lambda: PointConvolution(
              a["irreps_in"], a["irreps_out"], a["lmax"], a["r_max"], a["avg_neighbors"],
              a["n_basis"], a["hidden"]).double())(a["x"], a["pos"], a["edge_index"],
                                                   a["batch"]),
          lambda: dict(irreps_in="2x0e + 1x1o", irreps_out="1x0e + 1x1o", lmax=1, r_max=2.5,
                       avg_neighbors=2.0, n_basis=4, hidden=5, x=_randn(5, 5), **_cloud())),
    Entry(("prodint.symmetry.SE3Attention",),
          lambda a: _seeded(lambda: SE3Attention(
              a["irreps_in"], a["irreps_key"], a["irreps_out"], a["lmax"], a["r_max"],
              a["n_basis"], a["hidden"]).double())(a["x"], a["pos"], None, a["batch"]),
          lambda: dict(irreps_in="2x0e + 1x1o", irreps_key="1x0e + 1x1o",
                       irreps_out="1x0e + 1x1o", lmax=1, r_max=2.5, n_basis=4, hidden=5,
                       x=_randn(5, 5), pos=_randn(5, 3, seed=4),
                       batch=torch.tensor([0, 0, 0, 1, 1]))),
    Entry(("prodint.symmetry.bilinear_basis",), lambda a: bilinear_basis(**a),
          lambda: dict(ir1="1o", ir2="1o", ir3="1e")),
    Entry(("prodint.symmetry.clebsch_gordan",), lambda a: clebsch_gordan(**a),
          lambda: dict(ir1=Irrep("2e"), ir2="1o", ir3="2o")),
    Entry(("prodint.symmetry.selection_rule",), lambda a: selection_rule(**a),
          lambda: dict(ir1=Irrep("2e"), ir2=Irrep("1o"), ir3=Irrep("2o"))),
    Entry(("prodint.symmetry.circular_D",), lambda a: circular_D(**a),
          lambda: dict(m=2, theta=_randn(3))),
    Entry(("prodint.symmetry.circular_D",), lambda a: circular_D(**a),
          lambda: dict(m=1, theta=0.3)),
    Entry(("prodint.symmetry.circular_harmonics",), lambda a: circular_harmonics(**a),
          lambda: dict(m=3, phi=_randn(4))),
    Entry(("prodint.symmetry.generators",), lambda a: generators(**a), lambda: dict(l=2)),
    Entry(("prodint.symmetry.random_rotation",), lambda a: random_rotation(**a),
          lambda: dict(n=3, generator=_gen(), dtype=F64)),
    Entry(("prodint.symmetry.rotation_matrix",), lambda a: rotation_matrix(**a),
          lambda: dict(t=_randn(4, 3))),
    Entry(("prodint.symmetry.rotation_vector",), lambda a: rotation_vector(**a),
          lambda: dict(rotation=random_rotation(2, generator=_gen()))),
    Entry(("prodint.symmetry.wigner_D",), lambda a: wigner_D(**a),
          lambda: dict(l=2, rotation=_rotation())),
    Entry(("prodint.symmetry.sh_irreps",), lambda a: sh_irreps(**a).dim,
          lambda: dict(ls=[0, 2, 1])),
    Entry(("prodint.symmetry.spherical_harmonics",), lambda a: spherical_harmonics(**a),
          lambda: dict(ls=[0, 1, 3], x=_randn(4, 3), normalize=False,
                       normalization="integral")),
]

EXEMPT: dict[str, str] = {}
