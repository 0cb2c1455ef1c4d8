"""The chunked BLAS step against the naive full-table objective and the torch backend."""

import threading

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from prodint.hypercube.blas_step import BlasWorkspace, ChunkPlan, loss_and_grad_blas
from prodint.hypercube.model import (
    Factors,
    Pairs,
    Workspace,
    full_tensor,
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


@pytest.mark.parametrize(("workers", "chunk_pairs"), [(1, 1), (1, 64), (2, 3), (3, 5)])
def test_matches_naive_reference_float64(workers: int, chunk_pairs: int, problem) -> None:
    factors, target, mask = problem(9, torch.float64, seed=workers + chunk_pairs)
    mask[:, 4] = False  # a b without observed pairs
    leaves = Factors(*(x.clone().requires_grad_() for x in factors.tensors()))
    ref = objective_reference(leaves, target, mask, 0.0)
    ref.backward()
    pairs = Pairs.from_mask(mask, target)
    loss, logits, grads = _blas(factors, pairs, workspace=BlasWorkspace(chunk_pairs, workers))
    assert abs(loss.item() - ref.item()) <= 1e-10 * ref.item()
    torch.testing.assert_close(logits, full_tensor(factors)[pairs.a, pairs.b], rtol=1e-12,
                               atol=1e-12)
    for g, x in zip(grads, leaves.tensors(), strict=True):
        torch.testing.assert_close(g, x.grad, rtol=1e-10, atol=1e-10)
    assert torch.equal(grads[1][4], torch.zeros(9, 9, dtype=torch.float64))


def test_matches_float64_reference_in_float32(problem) -> None:
    factors, target, mask = problem(13, torch.float32, seed=3)
    leaves = Factors(*(x.double().requires_grad_() for x in factors.tensors()))
    objective_reference(leaves, target.double(), mask, 0.0).backward()
    pairs = Pairs.from_mask(mask, target)
    ws = BlasWorkspace(chunk_pairs=8, workers=2)
    _, logits, grads = _blas(factors, pairs, workspace=ws)
    assert ws.plan is not None and len(ws.plan.parts) == 2
    assert logits.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads)
    for g, x in zip(grads, leaves.tensors(), strict=True):
        torch.testing.assert_close(g.double(), x.grad, rtol=1e-4, atol=1e-5)


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
    first = _blas(factors, pairs, workspace=ws)
    buffers = [x.ctypes.data for bufs in ws.scratch for x in bufs]
    kept = [g.clone() for g in first[2]]
    second = _blas(factors, pairs, workspace=ws)
    assert [x.ctypes.data for bufs in ws.scratch for x in bufs] == buffers
    fresh = _blas(factors, pairs, workspace=BlasWorkspace(chunk_pairs=7, workers=2))
    assert first[0].item() == second[0].item() == fresh[0].item()
    for g1, k, g2, g3 in zip(first[2], kept, second[2], fresh[2], strict=True):
        assert torch.equal(g1, k)  # the second call did not write into the first's results
        assert torch.equal(g1, g2) and torch.equal(g1, g3)
    scratch = [(x.ctypes.data, x.ctypes.data + x.nbytes) for bufs in ws.scratch for x in bufs]
    for out in (second[1], *second[2]):
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


def test_more_workers_than_chunks_and_non_contiguous_factors(problem) -> None:
    factors, target, mask = problem(6, torch.float64, seed=10)
    C_view = factors.C.transpose(1, 2).contiguous().transpose(1, 2)  # same values, strided
    assert not C_view.is_contiguous()
    pairs = Pairs.from_mask(mask, target)
    ws = BlasWorkspace(chunk_pairs=100, workers=4)
    result = loss_and_grad_blas(factors.A, factors.B, C_view, pairs.a, pairs.b, pairs.target,
                                ws)
    assert ws.plan is not None and len(ws.plan.parts) == 1
    _assert_matches_torch_backend(factors, pairs, result)


def test_blas_thread_limit_is_restored(problem) -> None:
    factors, target, mask = problem(9, torch.float32, seed=11)
    before = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
    _blas(factors, Pairs.from_mask(mask, target), workspace=BlasWorkspace(4, workers=2))
    assert [(i["internal_api"], i["num_threads"]) for i in threadpool_info()] == before


@pytest.mark.parametrize(("workers", "chunk_pairs"), [(3, 5), (2, 6)])
def test_plan_covers_every_pair_once_in_balanced_contiguous_parts(
        workers: int, chunk_pairs: int, problem) -> None:
    _, target, mask = problem(12, torch.float32, seed=6, fraction=0.6)
    pairs = Pairs.from_mask(mask, target)
    plan = ChunkPlan.build(pairs.a, pairs.b, 12, workers=workers, chunk_pairs=chunk_pairs)

    def size(c: int) -> int:
        return int(plan.starts[plan.chunks[c][-1] + 1] - plan.starts[plan.chunks[c][0]])

    covered = [p for chunk in plan.chunks
               for p in range(int(plan.starts[chunk[0]]), int(plan.starts[chunk[-1] + 1]))]
    assert covered == list(range(pairs.m))
    assert all(size(c) >= chunk_pairs for c in range(len(plan.chunks) - 1))  # whole b's
    assert [c for part in plan.parts for c in part] == list(range(len(plan.chunks)))
    assert all(part == list(range(part[0], part[-1] + 1)) for part in plan.parts)
    sizes = [sum(size(c) for c in part) for part in plan.parts]
    assert len(sizes) == workers
    assert max(sizes) - min(sizes) <= max(size(c) for c in range(len(plan.chunks)))
    assert np.array_equal(plan.a, pairs.a.numpy())


def test_equal_chunks_are_shared_equally() -> None:
    b = torch.arange(4).repeat_interleave(3)  # four b's with three pairs each
    a = torch.arange(3).repeat(4)
    for workers, expected in ((2, [[0, 1], [2, 3]]), (4, [[0], [1], [2], [3]]),
                              (3, [[0], [1, 2], [3]])):
        assert ChunkPlan.build(a, b, 4, workers, chunk_pairs=3).parts == expected


def test_no_observed_pairs_gives_zero_loss_and_gradients(problem) -> None:
    factors, target, _ = problem(5, torch.float64)
    pairs = Pairs.from_mask(torch.zeros(5, 5, dtype=torch.bool), target)
    loss, logits, grads = _blas(factors, pairs, workspace=BlasWorkspace(workers=2))
    assert loss.item() == 0.0 and logits.shape == (0, 5)
    assert all(torch.equal(g, torch.zeros(5, 5, 5, dtype=torch.float64)) for g in grads)


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
        ChunkPlan.build(pairs.a, pairs.b.flip(0), 6, workers=1)
    with pytest.raises(ValueError, match=r"a: expected symbols in \[0, 6\)"):
        ChunkPlan.build(pairs.a - 1, pairs.b, 6, workers=1)
    with pytest.raises(ValueError, match=r"b: expected symbols in \[0, 6\)"):
        ChunkPlan.build(pairs.a, pairs.b + 1, 6, workers=1)
    with pytest.raises(ValueError, match="a, b: expected two"):
        ChunkPlan.build(pairs.a[1:], pairs.b, 6, workers=1)
    with pytest.raises(ValueError, match="workers, chunk_pairs: expected >= 1"):
        ChunkPlan.build(pairs.a, pairs.b, 6, workers=0)
    with pytest.raises(ValueError, match="workers, chunk_pairs: expected >= 1"):
        ChunkPlan.build(pairs.a, pairs.b, 6, workers=1, chunk_pairs=0)
    with pytest.raises(ValueError, match="chunk_pairs, workers: expected >= 1"):
        BlasWorkspace(workers=0)


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
