"""The Algebra object: broadcasting, dtype/device handling, structure, errors."""

import pytest
import torch

from prodint import Algebra
from prodint.algebra import clifford, from_structure_constants, hadamard, quaternions


def test_structure_constants_dense_from_triples() -> None:
    h = quaternions()
    g = h.structure_constants
    assert g.shape == (4, 4, 4)
    assert h.nnz == 16 == int((g != 0).sum())
    a, b, c = h.triples.unbind(-1)
    torch.testing.assert_close(g[a, b, c], h.values)
    g[0, 0, 0] = 5.0  # a copy: the algebra is unchanged
    assert h.structure_constants[0, 0, 0] == 1.0


def test_duplicate_triples_add_and_zeros_drop() -> None:
    triples = torch.tensor([[0, 0, 0], [0, 0, 0], [1, 1, 0], [1, 1, 0]])
    alg = Algebra(triples, torch.tensor([0.5, 0.5, 1.0, -1.0]), 2)
    assert alg.nnz == 1
    assert alg.structure_constants[0, 0, 0] == 1.0


def test_broadcasting_like_torch() -> None:
    h = quaternions().double()
    x = torch.randn(5, 1, 4, dtype=torch.float64)
    y = torch.randn(1, 3, 4, dtype=torch.float64)
    out = h.mul(x, y)
    assert out.shape == (5, 3, 4)
    torch.testing.assert_close(out[2, 1], h.mul(x[2, 0], y[0, 1]))
    assert h.mul(x[0, 0], y[0, 0]).shape == (4,)


def test_module_dtype_and_device_handling() -> None:
    alg = clifford(2)
    assert alg.dtype == torch.get_default_dtype()
    alg64 = alg.double()
    assert alg64 is alg and alg.dtype == torch.float64 and alg.triples.dtype == torch.long
    x = torch.randn(3, 4, dtype=torch.float64)
    ref = alg.mul(x, x, kernel="dense")
    alg.float()
    out = alg.mul(x.float(), x.float(), kernel="dense")  # dense cache rebuilt in float32
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
    assert alg.device.type == "cpu"
    # structure constants are fixed tables, not checkpoint state
    assert set(alg.state_dict()) == set()
    assert {name for name, _ in alg.named_buffers()} == {"triples", "values"}


def test_module_call_and_repr() -> None:
    alg = hadamard(3)
    x = torch.randn(2, 3)
    torch.testing.assert_close(alg(x, x), x * x)
    assert "Hadamard3" in repr(alg) and "elementwise" in repr(alg)


def test_left_and_right_multiplication_matrices() -> None:
    h = quaternions().double()
    x, y = torch.randn(4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    torch.testing.assert_close(h.left_multiplication(x) @ y, h.mul(x, y))
    torch.testing.assert_close(h.right_multiplication(y) @ x, h.mul(x, y))


def test_to_dtype_and_with_kernel_copy() -> None:
    h = quaternions()
    h64 = h.to_dtype(torch.float64)
    assert h64.dtype == torch.float64 and h.dtype == torch.float32
    assert h.with_kernel("sparse").kernel == "sparse" and h.kernel != "sparse"


# ---------------------------------------------------------------- bad input
def test_last_dimension_must_match() -> None:
    h = quaternions()
    with pytest.raises(ValueError, match=r"x: .*last dimension.*4.*\(3, 3\)"):
        h.mul(torch.randn(3, 3), torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"y: .*received shape \(\)"):
        h.mul(torch.randn(4), torch.tensor(1.0))


def test_mixed_dtypes_rejected() -> None:
    h = quaternions()
    with pytest.raises(TypeError, match=r"y: expected dtype torch.float32.*received torch.float64"):
        h.mul(torch.randn(4), torch.randn(4, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"x: expected a torch.Tensor"):
        h.mul([1.0, 0, 0, 0], torch.randn(4))  # type: ignore[arg-type]


def test_bad_structure_constants() -> None:
    with pytest.raises(ValueError, match=r"structure_constants: expected a cubic.*\(2, 3, 2\)"):
        from_structure_constants(torch.zeros(2, 3, 2))
    with pytest.raises(ValueError, match=r"structure_constants: expected a cubic.*\(2, 2\)"):
        from_structure_constants(torch.zeros(2, 2))
    bad = torch.zeros(2, 2, 2)
    bad[0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="structure_constants: expected finite"):
        from_structure_constants(bad)
    bad[0, 1, 1] = float("inf")
    with pytest.raises(ValueError, match="finite"):
        from_structure_constants(bad)
    with pytest.raises(TypeError, match="structure_constants: expected a real"):
        from_structure_constants(torch.zeros(2, 2, 2, dtype=torch.complex64))
    with pytest.raises(TypeError, match=r"structure_constants: expected a torch\.Tensor"):
        from_structure_constants([[[1.0]]])  # type: ignore[arg-type]


def test_bad_triples() -> None:
    with pytest.raises(ValueError, match=r"triples: expected indices in \[0, 2\)"):
        Algebra(torch.tensor([[0, 0, 2]]), torch.tensor([1.0]), 2)
    with pytest.raises(ValueError, match=r"triples: expected shape \[nnz, 3\]"):
        Algebra(torch.tensor([[0, 0]]), torch.tensor([1.0]), 2)
    with pytest.raises(TypeError, match="triples: expected an integer"):
        Algebra(torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([1.0]), 2)
    with pytest.raises(ValueError, match=r"values: expected shape \[1\]"):
        Algebra(torch.tensor([[0, 0, 0]]), torch.tensor([1.0, 2.0]), 2)
    with pytest.raises(ValueError, match="values: expected finite"):
        Algebra(torch.tensor([[0, 0, 0]]), torch.tensor([float("nan")]), 2)
    with pytest.raises(ValueError, match="dim: expected a positive int"):
        Algebra(torch.tensor([[0, 0, 0]]), torch.tensor([1.0]), 0)
    with pytest.raises(ValueError, match="basis_names: expected dim = 2 names, received 1"):
        Algebra(torch.tensor([[0, 0, 0]]), torch.tensor([1.0]), 2, basis_names=["a"])


def test_bad_kernel_names() -> None:
    h = quaternions()
    with pytest.raises(ValueError, match=r"kernel: kernel 'fft' does not apply to H"):
        h.mul(torch.randn(4), torch.randn(4), kernel="fft")
    with pytest.raises(ValueError, match=r"kernel: expected one of"):
        h.with_kernel("magic")


def test_catalogue_argument_errors() -> None:
    from prodint.algebra import clifford, matrix_algebra, tensor_product, truncated_polynomial

    with pytest.raises(ValueError, match="n: expected a positive int, received 0"):
        truncated_polynomial(0)
    with pytest.raises(TypeError, match=r"n: expected an int, received 2.0"):
        matrix_algebra(2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="q: expected an int >= 0, received -1"):
        clifford(1, -1)
    with pytest.raises(TypeError, match="b: expected dtype"):
        tensor_product(quaternions(), quaternions().double())


def test_operands_are_checked_for_dtype_device_and_broadcasting() -> None:
    h = quaternions().double()
    x = torch.randn(3, 4, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"x: expected dtype torch.float64 .*received torch.int64"):
        h.mul(torch.ones(3, 4, dtype=torch.long), x)
    with pytest.raises(ValueError, match=r"y: expected a tensor on cpu .*received one on meta"):
        h.mul(x, x.to("meta"))
    with pytest.raises(ValueError, match=r"y: expected leading dimensions that broadcast with "
                                         r"those of x, received x of shape \(3, 4\) and y of "
                                         r"shape \(2, 4\)"):
        h.mul(x, x[:2])
    with pytest.raises(TypeError, match="argument: expected the argument's name"):
        h.check_element(x, 3)  # type: ignore[arg-type]


def test_an_empty_batch_gives_an_empty_product_with_every_kernel() -> None:
    from prodint.algebra import group_algebra
    from prodint.groups import cyclic

    alg = group_algebra(cyclic(6)).double()
    empty = torch.zeros(0, 6, dtype=torch.float64)
    for kernel in alg.available_kernels():
        x = empty.clone().requires_grad_()
        out = alg.mul(x, torch.ones(6, dtype=torch.float64), kernel=kernel)
        assert out.shape == (0, 6)
        out.sum().backward()  # an empty batch still trains
        assert x.grad is not None and x.grad.shape == (0, 6)


def test_tolerances_and_dtypes_are_checked() -> None:
    h = quaternions()
    for method in (h.unit, h.is_associative, h.is_alternative):
        with pytest.raises(ValueError, match="atol: expected a finite number >= 0, received nan"):
            method(atol=float("nan"))
        with pytest.raises(ValueError, match="atol: expected a finite number >= 0"):
            method(atol=-1.0)
    with pytest.raises(TypeError, match=r"dtype: expected float16, bfloat16, float32, float64, "
                                        r"received dtype torch\.int64"):
        h.to_dtype(torch.int64)
    with pytest.raises(TypeError, match="name: expected a str or None, received 3"):
        Algebra(h.triples, h.values, 4, name=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="basis_names: expected a sequence of 4 str"):
        Algebra(h.triples, h.values, 4, basis_names="1ijk")


def test_large_dense_tensors_are_refused_with_the_estimate(monkeypatch) -> None:
    monkeypatch.setenv("PRODINT_MAX_BYTES", str(1 << 30))
    alg = hadamard(2048)  # the dense Γ would take 2048³ · 4 bytes = 32 GiB
    with pytest.raises(ValueError, match=r"structure_constants: expected a size for which dense "
                                         r"\[n, n, n\] tensor .* about 32.0 GiB"):
        _ = alg.structure_constants
    with pytest.raises(ValueError, match=r"kernel: .* about 32.0 GiB"):
        alg.mul(torch.ones(2048), torch.ones(2048), kernel="dense")
    assert "dense" not in alg.available_kernels()


def test_tensors_without_data_are_refused() -> None:
    h = quaternions()
    with pytest.raises(ValueError, match="values: expected a tensor with data, received one on"):
        Algebra(h.triples, h.values.to("meta"), 4)
    with pytest.raises(ValueError, match="structure_constants: expected a tensor with data"):
        from_structure_constants(torch.zeros(2, 2, 2, device="meta"))


def test_values_of_a_dtype_no_kernel_computes_in_are_refused() -> None:
    triples = torch.tensor([[0, 0, 0]])
    for dtype in (torch.float8_e4m3fn, torch.complex64, torch.bool):
        with pytest.raises(TypeError, match=r"values: expected a real tensor of dtype float16, "
                                            r"bfloat16, float32, float64 or an integer dtype"):
            Algebra(triples, torch.ones(1).to(dtype), 1)
    with pytest.raises(TypeError, match=r"structure_constants: expected a real tensor"):
        from_structure_constants(torch.ones(1, 1, 1, dtype=torch.complex64))
    # Integer values are exact in the default dtype.
    assert Algebra(triples, torch.tensor([3]), 1).values.tolist() == [3.0]
