"""Every multiplication kernel equals the dense reference, forward and gradients."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prodint.algebra import (
    clifford,
    group_algebra,
    hadamard,
    kernel_costs,
    matrix_algebra,
    octonions,
    quaternions,
    tensor_product,
    truncated_polynomial,
)
from prodint.groups import cyclic, dihedral, direct_product

ALGEBRAS = {
    "H": quaternions,
    "O": octonions,
    "Cl(3,0,0)": lambda: clifford(3),
    "Cl(1,1,1)": lambda: clifford(1, 1, 1),
    "R[C16]": lambda: group_algebra(cyclic(16)),
    "R[C4xC6]": lambda: group_algebra(direct_product(cyclic(4), cyclic(6))),
    "R[D5]": lambda: group_algebra(dihedral(5)),
    "R[z]/z^12": lambda: truncated_polynomial(12),
    "M4": lambda: matrix_algebra(4),
    "Hadamard9": lambda: hadamard(9),
    "C8xH": lambda: tensor_product(group_algebra(cyclic(8)), quaternions()),
}


@pytest.mark.parametrize("name", ALGEBRAS)
def test_every_kernel_matches_dense_forward_and_gradients(name: str, dtype, tol) -> None:
    alg = ALGEBRAS[name]().to(dtype)
    n = alg.dim
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 1, n, generator=gen, dtype=dtype)
    y0 = torch.randn(1, 2, n, generator=gen, dtype=dtype)
    w = torch.randn(3, 2, n, generator=gen, dtype=dtype)

    def run(kernel: str) -> tuple[torch.Tensor, ...]:
        x = x0.clone().requires_grad_()
        y = y0.clone().requires_grad_()
        out = alg.mul(x, y, kernel=kernel)
        (out * w).sum().backward()
        return out.detach(), x.grad, y.grad

    ref = run("dense")
    scale = max(1.0, ref[0].abs().max().item())
    for kernel in alg.available_kernels():
        got = run(kernel)
        for r, g in zip(ref, got, strict=True):
            torch.testing.assert_close(g, r, rtol=tol, atol=tol * scale)


def test_applicable_kernels() -> None:
    assert set(group_algebra(cyclic(8)).available_kernels()) == {"dense", "sparse", "fft"}
    assert "fft" not in group_algebra(dihedral(4)).available_kernels()
    assert "matmul" in matrix_algebra(3).available_kernels()
    assert "elementwise" in hadamard(3).available_kernels()


def test_cost_rule_prefers_structure() -> None:
    assert group_algebra(cyclic(512)).kernel == "fft"
    assert matrix_algebra(8).kernel == "matmul"
    assert hadamard(64).kernel == "elementwise"
    # small algebras: one BLAS call beats gather-scatter; large sparse Γ: the span wins
    assert quaternions().kernel == "dense"
    assert truncated_polynomial(256).kernel == "sparse"
    costs = kernel_costs(group_algebra(cyclic(512)))
    assert costs["fft"] < costs["sparse"] < costs["dense"]


def test_gradcheck_sparse_and_fft() -> None:
    for alg in (group_algebra(cyclic(6)).double(), octonions().double()):
        x = torch.randn(2, alg.dim, dtype=torch.float64, requires_grad=True)
        y = torch.randn(2, alg.dim, dtype=torch.float64, requires_grad=True)
        for kernel in alg.available_kernels():
            def product(a, b, k=kernel, m=alg):
                return m.mul(a, b, kernel=k)

            assert torch.autograd.gradcheck(product, (x, y))


def test_torch_compile_fullgraph() -> None:
    alg = group_algebra(cyclic(8)).double()
    x = torch.randn(4, 8, dtype=torch.float64)
    y = torch.randn(4, 8, dtype=torch.float64)
    for kernel in ["sparse", "dense"]:
        fn = torch.compile(lambda a, b, k=kernel, m=alg: m.mul(a, b, kernel=k), fullgraph=True,
                           backend="eager")
        torch.testing.assert_close(fn(x, y), alg.mul(x, y, kernel="dense"))


# ---------------------------------------------------------------- properties
_PROPERTY_ALGEBRAS = {k: ALGEBRAS[k]().double() for k in ["H", "O", "Cl(1,1,1)", "R[D5]", "M4"]}


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(_PROPERTY_ALGEBRAS)),
    seed=st.integers(0, 2**31 - 1),
    alpha=st.floats(-3, 3),
    beta=st.floats(-3, 3),
)
def test_bilinearity(name: str, seed: int, alpha: float, beta: float) -> None:
    alg = _PROPERTY_ALGEBRAS[name]
    x1, x2, y1, y2 = torch.randn(4, alg.dim, generator=torch.Generator().manual_seed(seed),
                                 dtype=torch.float64)
    lhs = alg.mul(alpha * x1 + beta * x2, y1)
    torch.testing.assert_close(lhs, alpha * alg.mul(x1, y1) + beta * alg.mul(x2, y1))
    rhs = alg.mul(x1, alpha * y1 + beta * y2)
    torch.testing.assert_close(rhs, alpha * alg.mul(x1, y1) + beta * alg.mul(x1, y2))


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(["H", "Cl(1,1,1)", "R[D5]", "M4"]), seed=st.integers(0, 2**31 - 1))
def test_associativity_where_it_holds(name: str, seed: int) -> None:
    alg = _PROPERTY_ALGEBRAS[name]
    x, y, z = torch.randn(3, alg.dim, generator=torch.Generator().manual_seed(seed),
                          dtype=torch.float64)
    torch.testing.assert_close(alg.mul(alg.mul(x, y), z), alg.mul(x, alg.mul(y, z)))


def test_half_precision_avoids_the_fft_kernel() -> None:
    import copy

    from prodint.algebra import choose_kernel

    alg = group_algebra(cyclic(8))
    assert alg.kernel == "fft"
    x, y = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(0))
    for dtype in (torch.float16, torch.bfloat16):
        for half in (copy.deepcopy(alg).to(dtype), alg.to_dtype(dtype)):
            assert half.kernel != "fft" and "fft" not in half.available_kernels()
            assert choose_kernel(half) == half.kernel
            torch.testing.assert_close(half.mul(x.to(dtype), y.to(dtype)).float(),
                                       alg.mul(x, y), rtol=0.05, atol=0.05)
            with pytest.raises(ValueError, match=r"kernel: kernel 'fft' computes in float32, "
                                                 r"float64, not in torch\.(b)?float16"):
                half.mul(x.to(dtype), y.to(dtype), kernel="fft")
    # Cast back to float64, a half algebra gets its FFT kernel back.
    assert copy.deepcopy(alg).half().double().kernel == "fft"


def test_kernel_choice_refuses_non_algebras() -> None:
    from prodint.algebra import choose_kernel

    with pytest.raises(TypeError, match=r"alg: expected a prodint.algebra.Algebra, received 'H'"):
        choose_kernel("H")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"alg: expected a prodint.algebra.Algebra"):
        kernel_costs(None)  # type: ignore[arg-type]


def test_a_broadcast_batch_whose_workspace_does_not_fit_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("PRODINT_MAX_BYTES", str(1 << 30))
    alg = clifford(4)  # n = 16: the dense kernel's [..., n, n] intermediate is 1 KiB a product
    x, y = torch.randn(2000, 1, 16), torch.randn(1, 2000, 16)  # 4,000,000 products
    with pytest.raises(ValueError, match=r"x, y: expected a size for which dense kernel's "
                                         r"workspace "
                                         r"for 4,000,000 products fits in 1.0 GiB .*about 3.8 GiB"):
        alg.mul(x, y, kernel="dense")
    assert alg.mul(x[:10], y[:, :10], kernel="dense").shape == (10, 10, 16)
