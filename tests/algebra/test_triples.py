"""The sparse triples: sorted and merged exactly at every dimension (no int64 key overflow)."""

import torch

from prodint.algebra import Algebra, hadamard
from prodint.algebra.triples import MAX_KEYED_DIM


def test_hadamard_above_the_int64_key_limit_is_exact() -> None:
    n = 3_000_000  # n³ > 2⁶³: a combined (c·n + a)·n + b key would overflow
    assert n > MAX_KEYED_DIM
    alg = hadamard(n)
    idx = torch.arange(n)
    assert torch.equal(alg.triples, torch.stack([idx, idx, idx], -1))
    x, y = torch.randn(2, 2, n, generator=torch.Generator().manual_seed(0))
    for kernel in ("sparse", "elementwise"):
        torch.testing.assert_close(alg.mul(x, y, kernel=kernel), x * y, rtol=0, atol=0)


def test_unsorted_duplicate_triples_merge_at_a_large_dimension() -> None:
    n = 3_000_000
    big = n - 1
    triples = torch.tensor([[big, 0, 5], [1, 1, 1], [big, 0, 5], [0, big, 5], [2, 2, 2]])
    values = torch.tensor([1.0, 2.0, 3.0, -1.0, 0.0], dtype=torch.float64)
    alg = Algebra(triples, values, n)
    # Sorted by (c, a, b), duplicates added, zeros dropped.
    assert alg.triples.tolist() == [[1, 1, 1], [0, big, 5], [big, 0, 5]]
    assert alg.values.tolist() == [2.0, -1.0, 4.0]
    x = torch.zeros(n, dtype=torch.float64)
    y = torch.zeros(n, dtype=torch.float64)
    x[big], y[0] = 1.0, 1.0
    out = alg.mul(x, y, kernel="sparse")
    assert out[5].item() == 4.0 and int((out != 0).sum()) == 1


def test_the_keyed_and_column_sorts_agree() -> None:
    gen = torch.Generator().manual_seed(0)
    triples = torch.randint(0, 7, (200, 3), generator=gen)
    values = torch.randn(200, generator=gen, dtype=torch.float64)
    small = Algebra(triples, values, 7)
    # The same triples in an algebra too large for the combined key, sorted column by column.
    large = Algebra(triples, values, MAX_KEYED_DIM + 1)
    assert torch.equal(small.triples, large.triples)
    torch.testing.assert_close(small.values, large.values, rtol=0, atol=1e-15)
