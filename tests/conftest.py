"""Shared fixtures: every dtype-parametrised test runs in float64 (tight) and float32."""

import pytest
import torch

TOLERANCES = {torch.float64: 1e-10, torch.float32: 1e-4}


@pytest.fixture(params=[torch.float64, torch.float32], ids=["f64", "f32"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    return request.param


@pytest.fixture
def tol(dtype: torch.dtype) -> float:
    return TOLERANCES[dtype]
