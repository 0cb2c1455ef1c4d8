"""The split of the observed pairs into workers and chunks for :mod:`.blas_step`.

The ``m`` pairs, sorted by ``b``, are cut into ``w = min(workers, m)`` contiguous parts of
``⌊m/w⌋`` or ``⌈m/w⌉`` pairs: every pair costs the same ``12 n³`` FLOPs, so equal numbers of
pairs are equal work. A part boundary may fall inside the pairs of one ``b``; that ``b`` is
then a *head* span at the end of one part and a *continuation* span at the start of the next
(of each later part it reaches), and the continuation's ``∂B_b`` goes to a separate buffer
that is added at the end, in part order. Within a part the spans are grouped into chunks of
whole spans, each closed once it holds ``chunk_pairs`` pairs or more (a part's last chunk may
hold fewer), so a chunk holds at most ``chunk_pairs + max_b count − 1`` pairs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from torch import Tensor

from prodint.checks import check_int


class Span(NamedTuple):
    """The pairs ``start:stop`` (positions in the sorted order), all with ``b = symbol``."""

    symbol: int
    start: int
    stop: int


@dataclass
class ChunkPlan:
    """The parts and chunks for one set of observed pairs.

    Attributes:
        n: the number of symbols.
        a: ``[m]`` the ``a`` of every pair, in the order of the pairs (sorted by ``b``).
        starts: ``[n + 1]``, the pairs of ``b`` are ``starts[b]:starts[b + 1]``.
        parts: per worker, its chunks; a chunk is a list of :class:`Span` (consecutive
            pairs, one span per ``b``).
        most_pairs: the largest number of pairs in a chunk.
    """

    n: int
    a: np.ndarray
    starts: np.ndarray
    parts: list[list[list[Span]]]
    most_pairs: int

    @classmethod
    def build(cls, a: Tensor, b: Tensor, n: int, workers: int,
              chunk_pairs: int) -> ChunkPlan:
        """The plan for pairs ``(a, b)`` sorted by ``b`` (as in :class:`~.model.Pairs`).

        Raises:
            TypeError: ``workers`` or ``chunk_pairs`` is not an int.
            ValueError: ``workers`` or ``chunk_pairs`` below 1; ``a``, ``b`` not two ``[m]``
                vectors of symbols in ``[0, n)``, or ``b`` not sorted.
        """
        check_int(workers, "workers", minimum=1)
        check_int(chunk_pairs, "chunk_pairs", minimum=1)
        a_np, b_np = (x.detach().cpu().numpy().astype(np.int64) for x in (a, b))
        if a_np.ndim != 1 or a_np.shape != b_np.shape:
            raise ValueError(f"a, b: expected two [m] index vectors, received shapes "
                             f"{tuple(a.shape)} and {tuple(b.shape)}")
        for name, x in (("a", a_np), ("b", b_np)):
            if x.size and (x.min() < 0 or x.max() >= n):
                raise ValueError(f"{name}: expected symbols in [0, {n}), received "
                                 f"{int(x.min())}..{int(x.max())}")
        if np.any(np.diff(b_np) < 0):
            raise ValueError("b: expected the pairs sorted by b")
        m = int(a_np.shape[0])
        starts = np.concatenate([[0], np.cumsum(np.bincount(b_np, minlength=n))])
        count = min(workers, m)
        bounds = [m * w // count for w in range(count + 1)] if count else [0]
        parts = [_chunks(starts, lo, hi, chunk_pairs)
                 for lo, hi in itertools.pairwise(bounds)]
        most = max((c[-1].stop - c[0].start for p in parts for c in p), default=0)
        return cls(n, a_np, starts.astype(np.int64), parts, most)

    def is_continuation(self, span: Span) -> bool:
        """Whether ``span`` continues a ``b`` whose first pairs belong to an earlier part."""
        return span.start > int(self.starts[span.symbol])


def _chunks(starts: np.ndarray, lo: int, hi: int, chunk_pairs: int) -> list[list[Span]]:
    """The chunks of whole spans covering the pairs ``lo:hi``."""
    first = int(np.searchsorted(starts, lo, side="right")) - 1
    last = int(np.searchsorted(starts, hi, side="left"))
    chunks: list[list[Span]] = []
    current: list[Span] = []
    size = 0
    for sym in range(first, last):
        start, stop = max(int(starts[sym]), lo), min(int(starts[sym + 1]), hi)
        if stop <= start:
            continue
        current.append(Span(sym, start, stop))
        size += stop - start
        if size >= chunk_pairs:
            chunks.append(current)
            current, size = [], 0
    if current:
        chunks.append(current)
    return chunks
