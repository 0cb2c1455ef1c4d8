"""Suite ``zoo``: every zoo family against its torch counterpart (or peer).

Each family of :data:`prodint.zoo.survey.FAMILIES` is timed as ``prodint`` (the converted or
native-dispatching module) against ``torch`` (the reference module or hand-written torch,
the baseline), forward and forward+backward, with peak memory. Families with their own case
generators (recurrent, state-space, equivariant) add theirs below. Target: ratio ≤ 1.25.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from prodint.bench import zoo_equivariant, zoo_mamba
from prodint.bench.harness import Case
from prodint.zoo.survey import FAMILIES, Family


def _first(out: Tensor | tuple) -> Tensor:
    return out[0] if isinstance(out, tuple) else out


def _timed(fn: Callable[..., Tensor], inputs: tuple[Tensor, ...],
           params: list[torch.nn.Parameter]) -> tuple[Callable[[], Tensor], Callable[[], None]]:
    def forward() -> Tensor:
        with torch.no_grad():
            return _first(fn(*inputs))

    def forward_backward() -> None:
        for t in (*inputs, *params):
            t.grad = None
        _first(fn(*inputs)).sum().backward()

    return forward, forward_backward


def family_cases(family: Family, device: str) -> Iterator[Case]:
    layer, ref, inputs = family.make(torch.float32)
    layer = layer.to(device)
    if family.name == "bilinear":
        inputs = (inputs[0], inputs[0].flip(0))
    inputs = tuple(t.to(device).requires_grad_() for t in inputs)
    ref_params = list(ref.parameters()) if isinstance(ref, torch.nn.Module) else []
    if isinstance(ref, torch.nn.Module):
        ref.to(device)
    params = {"family": family.name, "reference": family.reference_name,
              "shapes": [list(t.shape) for t in inputs], "device": device}
    for impl, fn, p in (("torch", ref, ref_params), ("prodint", layer, list(layer.parameters()))):
        fwd, fwd_bwd = _timed(fn, inputs, p)
        yield Case(family.name, impl, params, fwd, fwd_bwd, baseline="torch")


def cases(quick: bool = False, device: str = "cpu") -> Iterator[Case]:
    """Cases for every family, then the equivariant layers (Clifford against a real layer of
    the same size and cliffordlayers; C4/D4 group convolutions against a plain conv) and the
    Mamba block against mambapy's parallel scan (L = 1024 and 4096)."""
    for family in FAMILIES:
        yield from family_cases(family, device)
    yield from zoo_equivariant.cases(quick=quick, device=device)
    yield from zoo_mamba.cases(quick=quick, device=device)
