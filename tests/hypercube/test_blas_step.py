"""The chunked BLAS step against the naive full-table objective and the torch backend."""

import numpy as np
import pytest
import torch

from prodint.groups import cyclic
from prodint.hypercube.blas_step import BlasWorkspace, ChunkPlan, loss_and_grad_blas
from prodint.hypercube.model import (
    Factors,
    Pairs,
    Workspace,
    full_tensor,
    init_factors,
    loss_and_grad,
    objective_reference,
    one_hot_target,
)


def _problem(n: int, dtype: torch.dtype, seed: int = 0, fraction: float = 0.5):
    g = torch.Generator().manual_seed(seed)
    factors = init_factors(n, g, dtype)
    target = one_hot_target(cyclic(n).table, dtype)
    mask = torch.rand(n, n, generator=g) < fraction
    return factors, target, mask


def _blas(factors: Factors, pairs: Pairs, **kwargs):
    return loss_and_grad_blas(*factors.tensors(), pairs.a, pairs.b, pairs.target, **kwargs)


@pytest.mark.parametrize(("workers", "chunk_pairs"), [(1, 1), (1, 64), (2, 3), (3, 5)])
def test_matches_naive_reference_float64(workers: int, chunk_pairs: int) -> None:
    factors, target, mask = _problem(9, torch.float64, seed=workers + chunk_pairs)
    mask[:, 4] = False  # a b without observed pairs
    leaves = Factors(*(x.clone().requires_grad_() for x in factors.tensors()))
    ref = objective_reference(leaves, target, mask, 0.0)
    ref.backward()
    pairs = Pairs.from_mask(mask, target)
    loss, logits, grads = _blas(factors, pairs, workspace=BlasWorkspace(chunk_pairs),
                                workers=workers)
    assert abs(loss.item() - ref.item()) <= 1e-10 * ref.item()
    torch.testing.assert_close(logits, full_tensor(factors)[pairs.a, pairs.b], rtol=1e-12,
                               atol=1e-12)
    for g, x in zip(grads, leaves.tensors(), strict=True):
        torch.testing.assert_close(g, x.grad, rtol=1e-10, atol=1e-10)
    assert torch.equal(grads[1][4], torch.zeros(9, 9, dtype=torch.float64))


def test_matches_float64_reference_in_float32() -> None:
    factors, target, mask = _problem(13, torch.float32, seed=3)
    leaves = Factors(*(x.double().requires_grad_() for x in factors.tensors()))
    objective_reference(leaves, target.double(), mask, 0.0).backward()
    pairs = Pairs.from_mask(mask, target)
    _, logits, grads = _blas(factors, pairs, workers=2)
    assert logits.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads)
    for g, x in zip(grads, leaves.tensors(), strict=True):
        torch.testing.assert_close(g.double(), x.grad, rtol=1e-4, atol=1e-5)


def test_backends_agree_and_auto_picks_blas_on_cpu() -> None:
    factors, target, mask = _problem(11, torch.float64, seed=4, fraction=0.7)
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


def test_deterministic_and_buffers_reused_without_aliasing_results() -> None:
    factors, target, mask = _problem(10, torch.float32, seed=5)
    pairs = Pairs.from_mask(mask, target)
    ws = BlasWorkspace(chunk_pairs=7)
    first = _blas(factors, pairs, workspace=ws, workers=2)
    buffers = [x.ctypes.data for bufs in ws.scratch for x in bufs]
    kept = [g.clone() for g in first[2]]
    second = _blas(factors, pairs, workspace=ws, workers=2)
    assert [x.ctypes.data for bufs in ws.scratch for x in bufs] == buffers
    assert first[0].item() == second[0].item()
    for g1, k, g2 in zip(first[2], kept, second[2], strict=True):
        assert torch.equal(g1, k)  # the second call did not write into the first's results
        assert torch.equal(g1, g2)


def test_plan_covers_every_pair_once_in_balanced_contiguous_parts() -> None:
    _, target, mask = _problem(12, torch.float32, seed=6, fraction=0.6)
    pairs = Pairs.from_mask(mask, target)
    plan = ChunkPlan.build(pairs.a, pairs.b, 12, workers=3, chunk_pairs=5)
    covered = [p for chunk in plan.chunks
               for p in range(int(plan.starts[chunk[0]]), int(plan.starts[chunk[-1] + 1]))]
    assert covered == list(range(pairs.m))
    for chunk in plan.chunks[:-1]:  # whole b's, at least chunk_pairs pairs
        assert int(plan.starts[chunk[-1] + 1] - plan.starts[chunk[0]]) >= 5
    assert sorted(c for part in plan.parts for c in part) == list(range(len(plan.chunks)))
    assert all(part == list(range(part[0], part[-1] + 1)) for part in plan.parts)
    sizes = [sum(int(plan.starts[plan.chunks[c][-1] + 1] - plan.starts[plan.chunks[c][0]])
                 for c in part) for part in plan.parts]
    biggest_chunk = max(int(plan.starts[c[-1] + 1] - plan.starts[c[0]]) for c in plan.chunks)
    assert len(sizes) == 3 and max(sizes) - min(sizes) <= 2 * biggest_chunk
    assert np.array_equal(plan.a, pairs.a.numpy())


def test_no_observed_pairs_gives_zero_loss_and_gradients() -> None:
    factors, target, _ = _problem(5, torch.float64)
    pairs = Pairs.from_mask(torch.zeros(5, 5, dtype=torch.bool), target)
    loss, logits, grads = _blas(factors, pairs, workers=2)
    assert loss.item() == 0.0 and logits.shape == (0, 5)
    assert all(torch.equal(g, torch.zeros(5, 5, 5, dtype=torch.float64)) for g in grads)


def test_bad_arguments_raise_clear_errors() -> None:
    factors, target, mask = _problem(6, torch.float32)
    pairs = Pairs.from_mask(mask, target)
    with pytest.raises(ValueError, match="backend: expected one of"):
        loss_and_grad(factors, pairs, backend="cuda")
    half = Factors(*(x.half() for x in factors.tensors()))
    with pytest.raises(ValueError, match="backend: 'blas' needs float32 or float64"):
        loss_and_grad(half, pairs, backend="blas")
    with pytest.raises(ValueError, match="A: expected float32 or float64 factors"):
        _blas(half, pairs)
    with pytest.raises(ValueError, match="b: expected the pairs sorted by b"):
        ChunkPlan.build(pairs.a, pairs.b.flip(0), 6, workers=1)
    with pytest.raises(ValueError, match="workers, chunk_pairs: expected >= 1"):
        ChunkPlan.build(pairs.a, pairs.b, 6, workers=0)
