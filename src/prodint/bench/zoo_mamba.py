"""Mamba zoo cases: prodint's MambaBlock against mamba.py's block with its parallel scan.

The block converted by :func:`~prodint.zoo.mamba.from_mambapy` (``prodint``: the selective
scan token by token with a recomputing backward) is timed against the mamba.py block it came
from (``mambapy``, the baseline: Blelloch parallel scan over ``[B, L, E, N]`` tensors) on the
same input, forward (no grad) and forward+backward (input and every parameter), at
``L = 1024`` and ``4096`` (``quick``: 128), ``d_model = 64``, batch 4, float32. Target: no
slower and no larger in peak memory than the baseline.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from prodint.bench.harness import Case, timed_case
from prodint.zoo.mamba import from_mambapy


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    """A ``mambapy`` and a ``prodint`` case per length (see module doc)."""
    from mambapy.mamba import MambaBlock, MambaConfig

    batch, d_model = 4, 64
    for length in (128,) if quick else (1024, 4096):
        torch.manual_seed(0)
        reference = MambaBlock(MambaConfig(d_model=d_model, n_layers=1)).to(device)
        block = from_mambapy(reference)
        x = torch.randn(batch, length, d_model,
                        generator=torch.Generator().manual_seed(1)).to(device)
        x.requires_grad_()
        name = f"mamba L={length} B={batch} d_model={d_model}"
        params = {"length": length, "batch": batch, "d_model": d_model,
                  "d_state": reference.config.d_state, "order": block.self_interaction_order,
                  "scan": block.mode, "device": device}
        for impl, module in (("mambapy", reference), ("prodint", block)):
            yield timed_case(name, impl, params, lambda m=module, x=x: m(x),
                             [x, *module.parameters()], baseline="mambapy")
