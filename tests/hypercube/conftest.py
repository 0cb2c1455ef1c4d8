"""The HyperCube tests use tiny matrices: one CPU thread avoids thread synchronization cost.

``problem(n, dtype, seed=0, fraction=0.5)`` draws ``(factors, target, mask)``: random factors,
the one-hot table of Z_n and a random mask of observed pairs.
"""

from collections.abc import Callable, Iterator

import pytest
import torch

from prodint.groups import cyclic
from prodint.hypercube.model import Factors, init_factors, one_hot_target

Problem = Callable[..., tuple[Factors, torch.Tensor, torch.Tensor]]


def _make_problem(n: int, dtype: torch.dtype, seed: int = 0, fraction: float = 0.5,
                  ) -> tuple[Factors, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    factors = init_factors(n, g, dtype)
    target = one_hot_target(cyclic(n).table, dtype)
    mask = torch.rand(n, n, generator=g) < fraction
    return factors, target, mask


@pytest.fixture
def problem() -> Problem:
    """The random-problem factory (see the module docstring)."""
    return _make_problem


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
