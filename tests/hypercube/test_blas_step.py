"""The parallel BLAS step against the naive full-table objective and the torch backend."""

import threading

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from prodint.hypercube.blas_step import (
    BlasWorkspace,
    ChunkPlan,
    loss_and_grad_blas,
    objective_and_grad_blas,
)
from prodint.hypercube.model import (
    Factors,
    Pairs,
    Workspace,
    full_tensor,
    gram_sums,
    h_pairwise,
    loss_and_grad,
    objective_reference,
)


def _assert_matches_torch_backend(factors: Factors, pairs: Pairs, result) -> None:
    loss, logits, grads = result
    ref, ref_logits, ref_grads = loss_and_grad(factors, pairs, backend="torch")
    assert abs(loss.item() - ref.item()) <= 1e-12 * ref.item()
    torch.testing.assert_close(logits, ref_logits, rtol=1e-12, atol=1e-13)
    for x, y in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)


def _blas(factors: Factors, pairs: Pairs, **kwargs):
    return loss_and_grad_blas(*factors.tensors(), pairs.a, pairs.b, pairs.target, **kwargs)


def _objective(factors: Factors, pairs: Pairs, eps: float, **kwargs):
    return objective_and_grad_blas(*factors.tensors(), pairs.a, pairs.b, pairs.target, eps,
                                   **kwargs)


def _pair_counts(plan: ChunkPlan) -> list[int]:
    return [sum(s.stop - s.start for chunk in part for s in chunk) for part in plan.parts]


@pytest.mark.parametrize(("workers", "chunk_pairs", "per_pair"),
                         [(1, 1, False), (1, 64, True), (2, 3, False), (2, 3, True),
                          (3, 5, True)])
def test_matches_naive_reference_float64(workers: int, chunk_pairs: int, per_pair: bool,
                                         problem) -> None:
    factors, target, mask = problem(9, torch.float64, seed=workers + chunk_pairs)
    mask[:, 4] = False  # a b without observed pairs
    leaves = Factors(*(x.clone().requires_grad_() for x in factors.tensors()))
    ref = objective_reference(leaves, target, mask, 0.0)
    ref.backward()
    pairs = Pairs.from_mask(mask, target)
    ws = BlasWorkspace(chunk_pairs, workers, per_pair=per_pair)
    loss, logits, grads = _blas(factors, pairs, workspace=ws)
    assert abs(loss.item() - ref.item()) <= 1e-10 * ref.item()
    torch.testing.assert_close(logits, full_tensor(factors)[pairs.a, pairs.b], rtol=1e-12,
                               atol=1e-12)
    for g, x in zip(grads, leaves.tensors(), strict=True):
        torch.testing.assert_close(g, x.grad, rtol=1e-10, atol=1e-10)
    assert torch.equal(grads[1][4], torch.zeros(9, 9, dtype=torch.float64))


@pytest.mark.parametrize(("n", "workers", "chunk_pairs", "per_pair"),
                         [(7, 1, 4, True), (11, 2, 5, False), (11, 2, 5, True),
                          (6, 3, 100, False)])
def test_objective_with_h_matches_autograd_of_naive_reference(n: int, workers: int,
                                                              chunk_pairs: int, per_pair: bool,
                                                              problem) -> None:
    factors, target, mask = problem(n, torch.float64, seed=n + workers)
    eps = 0.37
    leaves = Factors(*(x.clone().requires_grad_() for x in factors.tensors()))
    objective_reference(leaves, target, mask, eps).backward()
    pairs = Pairs.from_mask(mask, target)
    out = _objective(factors, pairs, eps,
                     workspace=BlasWorkspace(chunk_pairs, workers, per_pair=per_pair))
    loss_ref = ((full_tensor(factors) - target).square() * mask[:, :, None]).sum()
    assert abs(out.loss.item() - loss_ref.item()) <= 1e-10 * loss_ref.item()
    h_ref = h_pairwise(factors)
    assert abs(out.h.item() - h_ref.item()) <= 1e-10 * h_ref.item()
    for g, x in zip(out.grads, leaves.tensors(), strict=True):
        torch.testing.assert_close(g, x.grad, rtol=1e-10, atol=1e-10)
    for mine, ref in zip(out.grams, gram_sums(factors), strict=True):
        torch.testing.assert_close(mine, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.logits, full_tensor(factors)[pairs.a, pairs.b],
                               rtol=1e-12, atol=1e-12)


def test_objective_with_zero_eps_is_the_loss_gradient_and_still_gives_h(problem) -> None:
    factors, target, mask = problem(8, torch.float64, seed=21)
    pairs = Pairs.from_mask(mask, target)
    ws = BlasWorkspace(chunk_pairs=5, workers=2)
    out = _objective(factors, pairs, 0.0, workspace=ws)
    _assert_matches_torch_backend(factors, pairs, (out.loss, out.logits, out.grads))
    assert abs(out.h.item() - h_pairwise(factors).item()) <= 1e-10 * out.h.item()


@pytest.mark.parametrize("per_pair", [False, True])
def test_matches_float64_reference_in_float32(per_pair: bool, problem) -> None:
    factors, target, mask = problem(13, torch.float32, seed=3)
    eps = 0.1
    leaves = Factors(*(x.double().requires_grad_() for x in factors.tensors()))
    objective_reference(leaves, target.double(), mask, eps).backward()
    pairs = Pairs.from_mask(mask, target)
    ws = BlasWorkspace(chunk_pairs=8, workers=2, per_pair=per_pair)
    out = _objective(factors, pairs, eps, workspace=ws)
    assert ws.plan is not None and len(ws.plan.parts) == 2
    assert out.logits.dtype == torch.float32 and all(g.dtype == torch.float32
                                                     for g in out.grads)
    for g, x in zip(out.grads, leaves.tensors(), strict=True):
        torch.testing.assert_close(g.double(), x.grad, rtol=1e-4, atol=1e-5)
    h_ref = h_pairwise(Factors(*(x.double() for x in factors.tensors()))).item()
    assert abs(out.h.item() - h_ref) <= 1e-5 * h_ref


@pytest.mark.parametrize("per_pair", [False, True])
def test_a_b_split_between_workers_is_summed_once(per_pair: bool, problem) -> None:
    factors, target, _ = problem(6, torch.float64, seed=13)
    mask = torch.zeros(6, 6, dtype=torch.bool)
    mask[:, 2] = True  # one b holds every pair: each part holds a piece of it
    mask[1, 3] = True
    pairs = Pairs.from_mask(mask, target)
    # 7 pairs, 6 of b = 2 first: the part boundaries inside them are continuations.
    for workers, continued in ((2, 1), (3, 2), (7, 5)):
        ws = BlasWorkspace(chunk_pairs=2, workers=workers, per_pair=per_pair)
        _assert_matches_torch_backend(factors, pairs, _blas(factors, pairs, workspace=ws))
        assert ws.plan is not None
        assert sum(ws.plan.is_continuation(part[0][0]) for part in ws.plan.parts) == continued


def test_backends_agree_and_auto_picks_blas_on_cpu(problem) -> None:
    factors, target, mask = problem(11, torch.float64, seed=4, fraction=0.7)
    pairs = Pairs.from_mask(mask, target)
    results = {be: loss_and_grad(factors, pairs, Workspace(), backend=be)
               for be in ("torch", "blas", "auto")}
    for be in ("blas", "auto"):
        torch.testing.assert_close(results[be][0], results["torch"][0], rtol=1e-12, atol=0)
        torch.testing.assert_close(results[be][1], results["torch"][1], rtol=1e-12,
                                   atol=1e-13)
        for g, r in zip(results[be][2], results["torch"][2], strict=True):
            torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)
    ws = Workspace()
    loss_and_grad(factors, pairs, ws)
    assert ws.blas.plan is not None and ws.products.numel() == 0


def test_deterministic_and_buffers_reused_without_aliasing_results(problem) -> None:
    factors, target, mask = problem(10, torch.float32, seed=5)
    pairs = Pairs.from_mask(mask, target)
    ws = BlasWorkspace(chunk_pairs=7, workers=2)
    first = _objective(factors, pairs, 0.1, workspace=ws)
    buffers = [x.ctypes.data for bufs in ws.scratch for x in bufs]
    kept = [g.clone() for g in first.grads]
    second = _objective(factors, pairs, 0.1, workspace=ws)
    assert [x.ctypes.data for bufs in ws.scratch for x in bufs] == buffers
    fresh = _objective(factors, pairs, 0.1, workspace=BlasWorkspace(chunk_pairs=7, workers=2))
    assert first.loss.item() == second.loss.item() == fresh.loss.item()
    assert first.h.item() == second.h.item() == fresh.h.item()
    for g1, k, g2, g3 in zip(first.grads, kept, second.grads, fresh.grads, strict=True):
        assert torch.equal(g1, k)  # the second call did not write into the first's results
        assert torch.equal(g1, g2) and torch.equal(g1, g3)
    scratch = [(x.ctypes.data, x.ctypes.data + x.nbytes) for bufs in ws.scratch for x in bufs]
    scratch += [(x.ctypes.data, x.ctypes.data + x.nbytes)
                for x in (ws.grad_bt, ws.transposed, *ws.h_terms)]
    for out in (second.logits, *second.grads, *second.grams):
        lo = out.data_ptr()
        assert all(lo + out.nbytes <= s or lo >= e for s, e in scratch)


def test_workspace_replans_for_new_pairs_of_the_same_size(problem) -> None:
    factors, target, _ = problem(8, torch.float64, seed=8)
    g = torch.Generator().manual_seed(9)
    masks = [torch.zeros(64, dtype=torch.bool) for _ in range(2)]
    for m in masks:
        m[torch.randperm(64, generator=g)[:30]] = True
    ws = BlasWorkspace(chunk_pairs=4, workers=2)
    for mask in masks:
        pairs = Pairs.from_mask(mask.view(8, 8), target)
        _assert_matches_torch_backend(factors, pairs, _blas(factors, pairs, workspace=ws))


def test_more_workers_than_pairs_and_non_contiguous_factors(problem) -> None:
    factors, target, _ = problem(6, torch.float64, seed=10)
    mask = torch.zeros(6, 6, dtype=torch.bool)
    mask[0, 1] = mask[4, 1] = mask[2, 5] = True
    C_view = factors.C.transpose(1, 2).contiguous().transpose(1, 2)  # same values, strided
    assert not C_view.is_contiguous()
    pairs = Pairs.from_mask(mask, target)
    ws = BlasWorkspace(chunk_pairs=100, workers=4)
    result = loss_and_grad_blas(factors.A, factors.B, C_view, pairs.a, pairs.b, pairs.target,
                                ws)
    assert ws.plan is not None and _pair_counts(ws.plan) == [1, 1, 1]
    _assert_matches_torch_backend(factors, pairs, result)


def test_products_per_b_by_default() -> None:
    assert BlasWorkspace().per_pair is False
    assert BlasWorkspace(per_pair=True).per_pair is True
    with pytest.raises(TypeError, match="per_pair"):
        BlasWorkspace(per_pair=1)  # type: ignore[arg-type]


def test_blas_thread_limit_is_restored(problem) -> None:
    factors, target, mask = problem(9, torch.float32, seed=11)
    before = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
    _objective(factors, Pairs.from_mask(mask, target), 0.1,
               workspace=BlasWorkspace(4, workers=2))
    assert [(i["internal_api"], i["num_threads"]) for i in threadpool_info()] == before


@pytest.mark.parametrize(("workers", "chunk_pairs"), [(3, 5), (2, 6), (1, 1), (4, 1000)])
def test_plan_covers_every_pair_once_in_equal_contiguous_parts(
        workers: int, chunk_pairs: int, problem) -> None:
    _, target, mask = problem(12, torch.float32, seed=6, fraction=0.6)
    pairs = Pairs.from_mask(mask, target)
    plan = ChunkPlan.build(pairs.a, pairs.b, 12, workers=workers, chunk_pairs=chunk_pairs)
    b = pairs.b.tolist()
    spans = [s for part in plan.parts for chunk in part for s in chunk]
    assert [p for s in spans for p in range(s.start, s.stop)] == list(range(pairs.m))
    assert all(b[p] == s.symbol for s in spans for p in range(s.start, s.stop))
    counts = _pair_counts(plan)
    assert len(counts) == workers and max(counts) - min(counts) <= 1  # equal FLOPs
    for part in plan.parts:
        sizes = [chunk[-1].stop - chunk[0].start for chunk in part]
        assert all(size >= chunk_pairs for size in sizes[:-1])
        assert max(sizes) <= plan.most_pairs
        inner = [s for chunk in part for s in chunk][1:]
        assert not any(plan.is_continuation(s) for s in inner)  # whole b's after the first
    assert np.array_equal(plan.a, pairs.a.numpy())


def test_equal_b_counts_are_shared_equally() -> None:
    b = torch.arange(4).repeat_interleave(3)  # four b's with three pairs each
    a = torch.arange(3).repeat(4)
    for workers, expected in ((2, [6, 6]), (4, [3, 3, 3, 3]), (5, [2, 2, 3, 2, 3])):
        assert _pair_counts(ChunkPlan.build(a, b, 4, workers, chunk_pairs=3)) == expected
    plan = ChunkPlan.build(a, b, 4, 5, chunk_pairs=3)
    assert [plan.is_continuation(part[0][0]) for part in plan.parts] == [
        False, True, True, True, False]  # bounds 0, 2, 4, 7, 9: b = 3 starts at 9


def test_no_observed_pairs_gives_zero_loss_and_gradients(problem) -> None:
    factors, target, _ = problem(5, torch.float64)
    pairs = Pairs.from_mask(torch.zeros(5, 5, dtype=torch.bool), target)
    loss, logits, grads = _blas(factors, pairs, workspace=BlasWorkspace(workers=2))
    assert loss.item() == 0.0 and logits.shape == (0, 5)
    assert all(torch.equal(g, torch.zeros(5, 5, 5, dtype=torch.float64)) for g in grads)
    out = _objective(factors, pairs, 0.5, workspace=BlasWorkspace(workers=2))
    assert out.loss.item() == 0.0
    assert abs(out.h.item() - h_pairwise(factors).item()) <= 1e-10 * out.h.item()


def test_bad_arguments_raise_clear_errors(problem) -> None:
    factors, target, mask = problem(6, torch.float32)
    pairs = Pairs.from_mask(mask, target)
    with pytest.raises(ValueError, match="backend: expected one of"):
        loss_and_grad(factors, pairs, backend="cuda")
    half = Factors(*(x.half() for x in factors.tensors()))
    with pytest.raises(ValueError, match="backend: 'blas' needs float32 or float64"):
        loss_and_grad(half, pairs, backend="blas")
    with pytest.raises(ValueError, match="A: expected float32 or float64 factors"):
        _blas(half, pairs)
    with pytest.raises(ValueError, match=r"C: expected a \[6, 6, 6\] torch.float32 tensor"):
        loss_and_grad_blas(factors.A, factors.B, factors.C.double(), pairs.a, pairs.b,
                           pairs.target)
    with pytest.raises(ValueError, match="target: expected"):
        loss_and_grad_blas(*factors.tensors(), pairs.a, pairs.b, pairs.target[1:])
    with pytest.raises(ValueError, match="b: expected the pairs sorted by b"):
        ChunkPlan.build(pairs.a, pairs.b.flip(0), 6, workers=1, chunk_pairs=4)
    with pytest.raises(ValueError, match=r"a: expected symbols in \[0, 6\)"):
        ChunkPlan.build(pairs.a - 1, pairs.b, 6, workers=1, chunk_pairs=4)
    with pytest.raises(ValueError, match=r"b: expected symbols in \[0, 6\)"):
        ChunkPlan.build(pairs.a, pairs.b + 1, 6, workers=1, chunk_pairs=4)
    with pytest.raises(ValueError, match="a, b: expected two"):
        ChunkPlan.build(pairs.a[1:], pairs.b, 6, workers=1, chunk_pairs=4)
    with pytest.raises(ValueError, match="workers: expected a positive int, received 0"):
        ChunkPlan.build(pairs.a, pairs.b, 6, workers=0, chunk_pairs=4)
    with pytest.raises(ValueError, match="chunk_pairs: expected a positive int, received 0"):
        ChunkPlan.build(pairs.a, pairs.b, 6, workers=1, chunk_pairs=0)
    with pytest.raises(ValueError, match="workers: expected a positive int, received 0"):
        BlasWorkspace(workers=0)
    with pytest.raises(TypeError, match="chunk_pairs: expected an int, received"):
        BlasWorkspace(chunk_pairs=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="per_pair: expected a bool, received"):
        BlasWorkspace(per_pair=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eps: expected a finite number >= 0, received -1"):
        _objective(factors, pairs, -1.0)
    with pytest.raises(TypeError, match="eps: expected"):
        _objective(factors, pairs, "0.1")  # type: ignore[arg-type]


def test_an_error_in_a_helper_thread_reaches_the_caller(monkeypatch, problem) -> None:
    factors, target, mask = problem(8, torch.float64, seed=12)
    pairs = Pairs.from_mask(mask, target)
    ws = BlasWorkspace(chunk_pairs=4, workers=2)
    take = np.take

    def failing_take(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("helper failed")
        return take(*args, **kwargs)

    monkeypatch.setattr(np, "take", failing_take)
    with pytest.raises(RuntimeError, match="helper failed"):
        _blas(factors, pairs, workspace=ws)
    monkeypatch.undo()
    # The workspace is still usable.
    _assert_matches_torch_backend(factors, pairs, _blas(factors, pairs, workspace=ws))
