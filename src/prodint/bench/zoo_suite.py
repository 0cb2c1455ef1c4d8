"""Suite ``zoo``: every zoo family against its counterpart outside prodint.

Each pair of :data:`prodint.bench.zoo_pairs.PAIRS` is timed as ``prodint`` (the converted or
native-dispatching module's ``forward``) against ``torch`` (the counterpart: the torch module,
a peer, or torch written by hand; the baseline), forward and forward+backward, with peak
memory. Families with their own case generators (state-space, equivariant) add theirs below.
Target: ratio ≤ 1.25.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from prodint.bench import zoo_equivariant, zoo_mamba
from prodint.bench.harness import Case, timed_case
from prodint.bench.zoo_pairs import PAIRS, Pair


def pair_cases(pair: Pair, device: str) -> Iterator[Case]:
    """The counterpart (``torch``) and the prodint layer (``prodint``) on the same inputs."""
    built = pair.make(torch.float32)
    layer = built.layer.to(device)
    counterpart = built.counterpart
    if isinstance(counterpart, torch.nn.Module):
        counterpart.to(device)
    inputs = tuple(t.to(device).requires_grad_() for t in built.inputs)
    params = {"family": pair.name, "reference": pair.counterpart_name,
              "shapes": [list(t.shape) for t in inputs], "device": device}
    for impl, fn in (("torch", counterpart), ("prodint", layer)):
        weights = list(fn.parameters()) if isinstance(fn, torch.nn.Module) else []
        yield timed_case(pair.name, impl, params,
                         lambda fn=fn: fn(*inputs, **built.options), [*inputs, *weights],
                         baseline="torch")


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    """Cases for every pair, then the equivariant layers (Clifford against a real layer of
    the same size and cliffordlayers; C4/D4 group convolutions against a plain conv) and the
    Mamba block against mambapy's parallel scan (L = 1024 and 4096)."""
    for pair in PAIRS:
        yield from pair_cases(pair, device)
    yield from zoo_equivariant.cases(quick=quick, device=device)
    yield from zoo_mamba.cases(quick=quick, device=device)
