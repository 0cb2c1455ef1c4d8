"""The fast objective against the naive full-table one; H; the regular representation."""

import pytest
import torch

from prodint.groups import cyclic, symmetric
from prodint.hypercube.model import (
    Factors,
    Pairs,
    Workspace,
    full_tensor,
    gram_sums,
    h_pairwise,
    h_value,
    h_value_and_grad,
    imbalance,
    init_factors,
    loss_and_grad,
    objective,
    objective_and_grad,
    objective_reference,
    one_hot_target,
    predict,
    regular_representation,
)
from prodint.hypercube.tables import make_table


@pytest.mark.parametrize("group", [cyclic(7), symmetric(3), symmetric(4)])
def test_regular_representation_is_exact(group) -> None:
    f = regular_representation(group.table)
    n = group.order
    assert torch.equal(full_tensor(f), one_hot_target(group.table, torch.float64))
    assert h_value(f).item() == 3 * n * n
    assert h_pairwise(f).item() == 3 * n * n


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_fast_objective_matches_naive_float64(eps: float, problem) -> None:
    factors, target, mask = problem(9, torch.float64)
    naive = Factors(*(x.clone().requires_grad_() for x in factors.tensors()))
    fast = Factors(*(x.clone().requires_grad_() for x in factors.tensors()))
    ref = objective_reference(naive, target, mask, eps)
    ref.backward()
    val = objective(fast, Pairs.from_mask(mask, target), eps)
    val.backward()
    assert abs(val.item() - ref.item()) <= 1e-10 * max(1.0, abs(ref.item()))
    for x, y in zip(naive.tensors(), fast.tensors(), strict=True):
        torch.testing.assert_close(y.grad, x.grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backend", ["torch", "blas"])
def test_each_backend_matches_naive_float64(backend: str, problem) -> None:
    factors, target, mask = problem(10, torch.float64, seed=7)
    leaves = Factors(*(x.clone().requires_grad_() for x in factors.tensors()))
    ref = objective_reference(leaves, target, mask, 0.0)
    ref.backward()
    loss, _, grads = loss_and_grad(factors, Pairs.from_mask(mask, target), backend=backend)
    assert abs(loss.item() - ref.item()) <= 1e-10 * ref.item()
    for g, x in zip(grads, leaves.tensors(), strict=True):
        torch.testing.assert_close(g, x.grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("eps", [0.0, 0.37])
@pytest.mark.parametrize("backend", ["torch", "blas", "auto"])
def test_objective_and_grad_matches_naive_float64(backend: str, eps: float, problem) -> None:
    factors, target, mask = problem(11, torch.float64, seed=3)
    leaves = Factors(*(x.clone().requires_grad_() for x in factors.tensors()))
    ref = objective_reference(leaves, target, mask, eps)
    ref.backward()
    pairs = Pairs.from_mask(mask, target)
    loss, h, logits, grads, grams = objective_and_grad(factors, pairs, eps, Workspace(),
                                                       backend=backend)
    assert abs((loss + eps * h).item() - ref.item()) <= 1e-10 * ref.item()
    assert abs(h.item() - h_pairwise(factors).item()) <= 1e-10 * h.item()
    torch.testing.assert_close(logits, full_tensor(factors)[pairs.a, pairs.b], rtol=1e-10,
                               atol=1e-10)
    for g, x in zip(grads, leaves.tensors(), strict=True):
        torch.testing.assert_close(g, x.grad, rtol=1e-10, atol=1e-10)
    for g, r in zip(grams, gram_sums(factors), strict=True):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10)


def test_objective_and_grad_refuses_an_unknown_backend(problem) -> None:
    factors, target, mask = problem(5, torch.float64)
    with pytest.raises(ValueError, match=r"^backend: expected one of"):
        objective_and_grad(factors, Pairs.from_mask(mask, target), 0.1, backend="gpu")


@pytest.mark.parametrize("backend", ["torch", "blas"])
def test_fast_objective_matches_naive_float32(backend: str, problem) -> None:
    factors, target, mask = problem(12, torch.float32, seed=1)
    ref64 = Factors(*(x.double().requires_grad_() for x in factors.tensors()))
    objective_reference(ref64, target.double(), mask, 0.1).backward()
    pairs = Pairs.from_mask(mask, target)
    _loss, _, grads = loss_and_grad(factors, pairs, Workspace(), backend=backend)
    _, h_grads = h_value_and_grad(factors)
    for g, hg, x in zip(grads, h_grads, ref64.tensors(), strict=True):
        torch.testing.assert_close((g + 0.1 * hg).double(), x.grad, rtol=1e-4, atol=1e-5)


def test_gradient_matches_finite_differences(problem) -> None:
    factors, target, mask = problem(4, torch.float64, seed=2)
    pairs = Pairs.from_mask(mask, target)
    leaves = tuple(x.clone().requires_grad_() for x in factors.tensors())
    assert torch.autograd.gradcheck(lambda A, B, C: objective(Factors(A, B, C), pairs, 0.1),
                                    leaves)


def test_h_gram_form_and_gradient_match_pairwise(problem) -> None:
    factors, _, _ = problem(8, torch.float64, seed=3)
    leaves = Factors(*(x.clone().requires_grad_() for x in factors.tensors()))
    ref = h_pairwise(leaves)
    ref.backward()
    h, grads = h_value_and_grad(factors)
    assert abs(h.item() - ref.item()) <= 1e-10 * ref.item()
    for g, x in zip(grads, leaves.tensors(), strict=True):
        torch.testing.assert_close(g, x.grad, rtol=1e-10, atol=1e-10)


def test_pairs_are_blocked_by_b_and_predict_matches_full_tensor(problem) -> None:
    factors, target, mask = problem(6, torch.float64, seed=4, fraction=0.8)
    pairs = Pairs.from_mask(mask, target, block=2)
    assert pairs.m == int(mask.sum())
    assert sorted(zip(pairs.b.tolist(), pairs.a.tolist(), strict=True)) == list(
        zip(pairs.b.tolist(), pairs.a.tolist(), strict=True))
    assert set(zip(pairs.a.tolist(), pairs.b.tolist(), strict=True)) == {
        (a, b) for a, b in mask.nonzero().tolist()}
    block_of_slot = pairs.block_b.repeat_interleave(2)
    assert torch.equal(block_of_slot[pairs.valid], pairs.b)  # every pair in a block of its b
    assert torch.equal(pairs.slot_a[pairs.valid], pairs.a)
    assert int(pairs.slot_weight.sum()) == pairs.m  # padding carries weight 0
    counts = torch.bincount(pairs.b, minlength=6)
    assert torch.equal(torch.bincount(pairs.block_b, minlength=6), (counts + 1) // 2)
    T = full_tensor(factors)
    torch.testing.assert_close(predict(factors, pairs.a, pairs.b, chunk=5),
                               T[pairs.a, pairs.b], rtol=1e-12, atol=1e-12)
    for backend in ("torch", "blas"):
        _, logits, _ = loss_and_grad(factors, pairs, backend=backend)
        torch.testing.assert_close(logits, T[pairs.a, pairs.b], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("block", [1, 3, 64])
def test_block_size_does_not_change_the_result(block: int, problem) -> None:
    factors, target, mask = problem(7, torch.float64, seed=6)
    loss, _, grads = loss_and_grad(factors, Pairs.from_mask(mask, target, block=block),
                                   backend="torch")
    ref, _, ref_grads = loss_and_grad(factors, Pairs.from_mask(mask, target, block=16),
                                      backend="torch")
    assert abs(loss.item() - ref.item()) <= 1e-12 * ref.item()
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12)


def test_torch_backend_workspace_is_reused_across_steps(problem) -> None:
    factors, target, mask = problem(5, torch.float32, seed=5)
    pairs = Pairs.from_mask(mask, target)
    ws = Workspace()
    first = loss_and_grad(factors, pairs, ws, backend="torch")
    buffer = ws.products.data_ptr()
    assert ws.products.numel() > 0
    second = loss_and_grad(factors, pairs, ws, backend="torch")
    assert ws.products.data_ptr() == buffer
    assert first[0].item() == second[0].item()
    for g1, g2 in zip(first[2], second[2], strict=True):
        assert torch.equal(g1, g2)


def test_init_rejects_bad_size() -> None:
    with pytest.raises(ValueError, match="n: expected a positive int"):
        init_factors(0, torch.Generator())


def test_imbalance_is_zero_at_the_regular_representation_only() -> None:
    f = regular_representation(cyclic(5).table)
    assert imbalance(gram_sums(f)) == 0.0
    scaled = Factors(2 * f.A, f.B / 2, f.C)  # same T, gauge out of balance
    assert imbalance(gram_sums(scaled)) > 0.5


def test_regular_representation_needs_a_group_table() -> None:
    with pytest.raises(ValueError, match=r"table: expected the table of a group"):
        regular_representation(make_table("latin5"))  # a Latin square, not associative
    with pytest.raises(ValueError, match=r"table: expected symbols in 0\.\.2"):
        regular_representation(torch.tensor([[0, 1, 2], [1, 2, 0], [2, 0, 5]]))
    with pytest.raises(TypeError, match=r"dtype: expected float16, bfloat16, float32, float64"):
        regular_representation(cyclic(3).table, dtype=torch.int64)
    assert regular_representation(cyclic(3).table.tolist()).n == 3  # a list of rows too


def test_factors_check_their_stacks() -> None:
    a = torch.randn(3, 3, 3)
    with pytest.raises(ValueError, match=r"A: expected shape \[n, n, n\] with n >= 1, received "
                                         r"\(3, 3, 2\)"):
        Factors(a[..., :2], a, a)
    with pytest.raises(TypeError, match=r"B: expected dtype torch\.float32 \(that of A\), "
                                        r"received torch\.float64"):
        Factors(a, a.double(), a)
    with pytest.raises(ValueError, match=r"C: expected a tensor on cpu \(that of A\)"):
        Factors(a, a, a.to("meta"))
    with pytest.raises(TypeError, match=r"A: expected dtype float16, bfloat16, float32, "
                                        r"float64, received torch\.int64"):
        Factors(a.long(), a, a)
