"""Boundary entries of prodint.algebra: every public callable under hostile arguments."""

from __future__ import annotations

from typing import Any

import torch

from prodint.algebra import (
    Algebra,
    KernelHints,
    LearnedAlgebra,
    choose_kernel,
    clifford,
    complex_numbers,
    dual_numbers,
    from_structure_constants,
    group_algebra,
    hadamard,
    kernel_costs,
    matrix_algebra,
    octonions,
    quaternions,
    real,
    tensor_product,
    truncated_polynomial,
)
from prodint.groups import cyclic, regular, so3_vector
from prodint.testing.contract import Entry

F64 = torch.float64


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _quaternion_table() -> tuple[torch.Tensor, torch.Tensor]:
    h = quaternions().double()
    return h.triples.clone(), h.values.clone()


def _algebra(a: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    alg = Algebra(a["triples"], a["values"], a["dim"], basis_names=a["basis_names"],
                  name=a["name"], hints=a["hints"], kernel=a["kernel"])
    e = alg.basis()
    return alg.structure_constants, alg.mul(e.unsqueeze(1), e.unsqueeze(0))


def _algebra_arguments() -> dict[str, Any]:
    triples, values = _quaternion_table()
    return dict(triples=triples, values=values, dim=4, basis_names=["1", "i", "j", "k"],
                name="H", hints=KernelHints(), kernel="sparse")


def _hinted(a: dict[str, Any]) -> torch.Tensor:
    # The product table of every pair of basis elements, by the kernel the hints select.
    alg = Algebra(a["triples"], a["values"], a["dim"], hints=a["hints"])
    e = alg.basis()
    return alg.mul(e.unsqueeze(1), e.unsqueeze(0))


def _hinted_arguments() -> dict[str, Any]:
    c = group_algebra(cyclic(4)).double()
    return dict(triples=c.triples.clone(), values=c.values.clone(), dim=4,
                hints=KernelHints(cyclic_shape=(4,)))


H = quaternions().double()
C6 = group_algebra(cyclic(6)).double()
M2 = matrix_algebra(2).double()


def _mul_arguments() -> dict[str, Any]:
    return dict(x=_randn(5, 4), y=_randn(5, 4, seed=1), kernel="dense")


def _identities(a: dict[str, Any]) -> list[object]:
    return [H.unit(atol=a["atol"]), H.is_associative(atol=a["atol"]),
            H.is_alternative(atol=a["atol"]), H.is_commutative()]


def _copies(a: dict[str, Any]) -> torch.Tensor:
    alg = H.to_dtype(a["dtype"]).with_kernel(a["kernel"])
    x = _randn(2, 4).to(alg.dtype)
    return alg.mul(x, x) + len(alg.available_kernels())


def _built(alg: Algebra) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The sparse structure of a built algebra and the square of a fixed element: O(nnz + n)
    work, so that the random sizes the contract tries stay cheap (the dense Γ is n³)."""
    x = torch.randn(alg.dim, generator=torch.Generator().manual_seed(0)).to(alg.dtype)
    return alg.triples, alg.values, alg.mul(x, x)


def _learned(a: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    generator = a["generator"]
    if isinstance(generator, torch.Generator):
        # A copy, so that the reference call of a mutation draws the same initial constants.
        generator = torch.Generator().set_state(generator.get_state())
    alg = LearnedAlgebra(a["dim"], symmetry=a["symmetry"], mode=a["mode"], legs=a["legs"],
                         name=a["name"], basis_names=a["basis_names"], init_std=a["init_std"],
                         generator=generator).double()
    return alg.mul(a["x"], a["y"]), alg.symmetry_penalty()


def _learned_arguments(symmetry: Any, mode: str, legs: tuple[str, ...]) -> dict[str, Any]:
    dim = symmetry.dim
    return dict(dim=dim, symmetry=symmetry, mode=mode, legs=legs, name="L",
                basis_names=[f"u{i}" for i in range(dim)], init_std=0.3,
                generator=torch.Generator().manual_seed(0), x=_randn(2, dim),
                y=_randn(2, dim, seed=1))


def _learned_methods(a: dict[str, Any]) -> list[object]:
    alg = LearnedAlgebra(3, symmetry=regular(cyclic(3)), mode="free",
                         generator=torch.Generator().manual_seed(0)).double()
    fixed = alg.to_algebra()
    return [alg.is_equivariant(atol=a["atol"]), alg.project_().symmetry_penalty(),
            fixed.mul(a["x"], a["x"]), alg(a["x"], a["x"]), alg.structure_constants, alg.basis,
            alg.leg_symmetry]


ENTRIES = [
    Entry(("prodint.algebra.Algebra", "prodint.algebra.KernelHints"), _algebra,
          _algebra_arguments, free_text=frozenset({"name"})),
    Entry(("prodint.algebra.Algebra",), _hinted, _hinted_arguments),
    Entry(("prodint.algebra.Algebra",), lambda a: H.mul(**a), _mul_arguments),
    Entry(("prodint.algebra.Algebra",), lambda a: C6.mul(a["x"], a["y"], kernel=a["kernel"]),
          lambda: dict(x=_randn(2, 6), y=_randn(6, seed=1), kernel="fft")),
    Entry(("prodint.algebra.Algebra",), lambda a: M2.mul(a["x"], a["y"], kernel=a["kernel"]),
          lambda: dict(x=_randn(2, 4), y=_randn(2, 4, seed=1), kernel="matmul")),
    Entry(("prodint.algebra.Algebra",), lambda a: H(**a),
          lambda: dict(x=_randn(3, 4), y=_randn(3, 4, seed=1))),
    Entry(("prodint.algebra.Algebra",),
          lambda a: (H.left_multiplication(a["x"]), H.right_multiplication(a["y"])),
          lambda: dict(x=_randn(3, 4), y=_randn(3, 4, seed=1))),
    Entry(("prodint.algebra.Algebra",), lambda a: H.check_element(**a),
          lambda: dict(x=_randn(3, 4), argument="x"), free_text=frozenset({"argument"})),
    Entry(("prodint.algebra.Algebra",), _identities, lambda: dict(atol=1e-9)),
    Entry(("prodint.algebra.Algebra",), _copies, lambda: dict(dtype=torch.float32,
                                                              kernel="sparse")),
    Entry(("prodint.algebra.KernelHints",), lambda a: KernelHints(**a),
          lambda: dict(cyclic_shape=(2, 3), matrix_size=2, hadamard=False)),
    Entry(("prodint.algebra.choose_kernel", "prodint.algebra.kernel_costs"),
          lambda a: (choose_kernel(a["alg"]), kernel_costs(a["alg"])),
          lambda: dict(alg=quaternions())),
    Entry(("prodint.algebra.real", "prodint.algebra.complex_numbers",
           "prodint.algebra.dual_numbers", "prodint.algebra.quaternions",
           "prodint.algebra.octonions"),
          lambda a: [_built(f()) for f in (real, complex_numbers, dual_numbers, quaternions,
                                           octonions)],
          dict),
    Entry(("prodint.algebra.clifford",), lambda a: _built(clifford(**a)),
          lambda: dict(p=1, q=1, r=1)),
    Entry(("prodint.algebra.group_algebra",), lambda a: _built(group_algebra(**a)),
          lambda: dict(group=cyclic(3))),
    Entry(("prodint.algebra.truncated_polynomial",),
          lambda a: _built(truncated_polynomial(**a)), lambda: dict(n=3)),
    Entry(("prodint.algebra.matrix_algebra",),
          lambda a: _built(matrix_algebra(**a)), lambda: dict(n=2)),
    Entry(("prodint.algebra.hadamard",), lambda a: _built(hadamard(**a)),
          lambda: dict(n=3)),
    Entry(("prodint.algebra.tensor_product",),
          lambda a: _built(tensor_product(**a)),
          lambda: dict(a=complex_numbers(), b=dual_numbers())),
    Entry(("prodint.algebra.from_structure_constants",),
          lambda a: _built(from_structure_constants(**a)),
          lambda: dict(structure_constants=quaternions().double().structure_constants,
                       basis_names=["1", "i", "j", "k"], name="H"),
          free_text=frozenset({"name"})),
    Entry(("prodint.algebra.LearnedAlgebra",), _learned,
          lambda: _learned_arguments(regular(cyclic(3)), "free", ("a", "b", "c")),
          free_text=frozenset({"name"})),
    Entry(("prodint.algebra.LearnedAlgebra",), _learned,
          lambda: _learned_arguments(regular(cyclic(3)), "regularized", ("b", "c")),
          free_text=frozenset({"name"})),
    Entry(("prodint.algebra.LearnedAlgebra",), _learned,
          lambda: _learned_arguments(regular(cyclic(3)), "constrained", ("a", "b", "c")),
          free_text=frozenset({"name"})),
    Entry(("prodint.algebra.LearnedAlgebra",), _learned,
          lambda: _learned_arguments(so3_vector(), "constrained", ("a", "c")),
          free_text=frozenset({"name"})),
    Entry(("prodint.algebra.LearnedAlgebra",), _learned_methods,
          lambda: dict(atol=1e-9, x=_randn(2, 3))),
]

EXEMPT = {"prodint.algebra.KERNELS": "a constant: the table of kernel functions by name"}
