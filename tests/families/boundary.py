"""Boundary entries of prodint.families: the registry, and hostile inputs to a few of its layers.

The layers fuzzed are those whose every execution is the compiled expression (the expression
library and a constrained expression), so that their input checks are the layer contract's
own (:mod:`prodint.interaction.compile`).
"""

from __future__ import annotations

import zlib
from typing import Any

import torch

from prodint.families import families
from prodint.testing.contract import Entry

FUZZED = ("library.glu", "library.conv1d", "library.softmax_attention.causal",
          "constrained.so3_vector_map")


def _case(name: str) -> Any:
    generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    return families()[name].build(generator)


def _entry(name: str) -> Entry:
    def run(a: dict[str, Any]) -> torch.Tensor:
        layer = _case(name).layer
        return torch.stack([layer(a["X"]), layer.general(a["X"]), layer.reference(a["X"])])

    return Entry(("prodint.families.families",), run, lambda: dict(X=_case(name).inputs[0]))


ENTRIES: list[Entry] = [
    Entry(("prodint.families.families",), lambda a: sorted(families()), lambda: {}),
    *(_entry(name) for name in FUZZED),
]

EXEMPT: dict[str, str] = {}
