"""Boundary entries of prodint.sparse: matrices, unrolled recurrences, sparse layers and
attention maps under hostile arguments."""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.interaction import compile, library
from prodint.spans import conv
from prodint.sparse import (
    SparseLayer,
    SparsePattern,
    attention_matrix,
    attention_tensor,
    sparsify,
    to_sparse_matrix,
    unroll,
)
from prodint.testing.contract import Entry

F64 = torch.float64


def _randn(*shape: int, seed: int = 0) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _layer(expr: object) -> object:
    return compile(expr, dtype=F64, generator=torch.Generator().manual_seed(0))  # type: ignore[arg-type]


def _matrix(a: dict) -> Tensor:
    m, b = to_sparse_matrix(a["layer"], a["input_shape"])
    return torch.cat([m.to_dense().flatten(), b])


def _pattern(a: dict) -> Tensor:
    return SparsePattern(a["span"]).dense(a["w"])


ENTRIES = [
    Entry(("prodint.sparse.to_sparse_matrix",), _matrix,
          lambda: dict(layer=_layer(library.dense(3, 2)), input_shape=(4, 3))),
    Entry(("prodint.sparse.unroll",), lambda a: unroll(a["layer"], a["length"]),
          lambda: dict(layer=_layer(library.linear_recurrence(2, 3)), length=4)),
    Entry(("prodint.sparse.SparsePattern",), _pattern,
          lambda: dict(span=conv([5], 3, padding=1), w=_randn(3))),
    Entry(("prodint.sparse.SparseLayer",), lambda a: SparseLayer(a["layer"])(a["x"]),
          lambda: dict(layer=_layer(library.conv1d(2, 3, 3, padding=1)), x=_randn(2, 6, 2)),
          aliases={"x": ("X",)}),
    Entry(("prodint.sparse.sparsify",), lambda a: sparsify(a["model"])(a["x"]),
          lambda: dict(model=torch.nn.Sequential(_layer(library.dense(3, 2))),
                       x=_randn(2, 4, 3)),
          aliases={"x": ("X",)}),
    Entry(("prodint.sparse.attention_matrix",), lambda a: attention_matrix(a["layer"], a["x"]),
          lambda: dict(layer=_layer(library.softmax_attention(3, 2, 2, causal=True)),
                       x=_randn(2, 5, 3)),
          aliases={"x": ("X",)}),
    Entry(("prodint.sparse.attention_tensor",), lambda a: attention_tensor(a["layer"], a["x"]),
          lambda: dict(layer=_layer(library.linear_attention(3, 2, 2, causal=True)),
                       x=_randn(2, 5, 3)),
          aliases={"x": ("X",)}),
]
