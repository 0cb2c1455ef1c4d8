"""
Spans and sparse matrices
=========================

A linear layer is a *parametric span* ``X ←s− E −t→ Y`` with a parameter map ``π`` and
weights ``ν``: ``y[t_e] += ν_e · w[π_e] · x[s_e]`` — a gather, a multiply and a scatter-add.
For a fixed parameter it is a sparse matrix. This tutorial builds spans directly, lowers
layers to them, reads their matrices and builds a graph layer.
"""

import os

import torch
import torch.nn.functional as F
from torch import nn

from prodint.interaction import compile, library
from prodint.spans import conv, graph, lower
from prodint.sparse import attention_matrix, to_sparse_matrix, unroll
from prodint.zoo import from_torch

SMALL = os.environ.get("PRODINT_DOCS_SMALL") == "1"
N = 8 if SMALL else 32  # signal length, image side and number of graph nodes
torch.manual_seed(0)

# %%
# A convolution as a span
# -----------------------
# ``conv([N], 3, padding=1)`` has one element per (output, tap) pair that reads an input
# inside the signal. In the block form, ``w`` is ``[taps, c_in, c_out]``.

span = conv([N], 3, padding=1)
print(span)
print("elements:", len(span.source), " 3 taps · N outputs − the 2 that read padding:", 3 * N - 2)
w = torch.randn(3, 2, 4, dtype=torch.float64)
x = torch.randn(5, N, 2, dtype=torch.float64)
native = F.conv1d(x.transpose(1, 2), w.permute(2, 1, 0), padding=1).transpose(1, 2)
print("span == F.conv1d:", torch.allclose(span(w, x), native, atol=1e-12))

# %%
# The adjoint swaps source and target: ``⟨span(w, x), y⟩ = ⟨x, spanᵀ(w, y)⟩``.

y = torch.randn(5, N, 4, dtype=torch.float64)
adjoint = span.transpose()
w_t = w.transpose(1, 2)  # the blocks act the other way
print("adjoint identity:", torch.allclose((span(w, x) * y).sum(), (x * adjoint(w_t, y)).sum()))

# %%
# Any linear layer, lowered
# -------------------------
# ``lower(layer)`` reads a layer's expression and executes it as its span;
# ``to_sparse_matrix(layer, shape)`` returns the CSR matrix ``M`` and offset ``b`` with
# ``layer(x) = M x + b``. A valid 1-D convolution's matrix is banded: ``M[i, j] ≠ 0`` only for
# ``0 ≤ j − i < 3``.

conv1 = from_torch(nn.Conv1d(1, 1, 3).double())
M, b = to_sparse_matrix(conv1, (1, N))
rows, cols = torch.nonzero(M.to_dense(), as_tuple=True)
print("matrix", tuple(M.shape), "nonzeros", M.values().numel(),
      " band offsets:", sorted(set((cols - rows).tolist())))
x1 = torch.randn(1, 1, N, dtype=torch.float64)
with torch.no_grad():
    print("M x + b == layer(x):", torch.allclose(M @ x1.flatten() + b, conv1(x1).flatten()))
    print("lowered span == layer(x):", torch.allclose(lower(conv1)(x1), conv1(x1)))

conv2 = from_torch(nn.Conv2d(1, 1, 3).double())
M2, _ = to_sparse_matrix(conv2, (1, N, N))
print("3×3 valid convolution on", f"{N}×{N}:", tuple(M2.shape), "nonzeros",
      M2.values().numel(), " outputs · 9 taps:", (N - 2) ** 2 * 9)

# %%
# Recurrences and attention
# -------------------------
# Unrolled over 5 steps, the linear recurrence ``h_t = a ⊙ h_{t−1} + W x_t`` is block
# lower-triangular (time-major). Attention is not linear in its input, but on a given input
# it mixes positions with a matrix; causal attention's is lower-triangular.

rnn = compile(library.linear_recurrence(2, 3), dtype=torch.float64)
U = unroll(rnn, 5)
print("unrolled", tuple(U.shape), " nonzeros above the block diagonal:",
      int(torch.count_nonzero(torch.stack([U[3 * t:3 * t + 3, 2 * (t + 1):]
                                           .abs().sum() for t in range(4)]))))
attention = compile(library.softmax_attention(4, 2, 2, causal=True), dtype=torch.float64)
A = attention_matrix(attention, torch.randn(1, 6, 4, dtype=torch.float64))
print("attention matrix", tuple(A.shape), " rows sum to one:",
      torch.allclose(A[0].sum(-1), torch.ones(6, dtype=torch.float64)),
      " entries above the diagonal:", int(torch.count_nonzero(A[0].triu(1))))

# %%
# A graph layer
# -------------
# ``graph(edge_index, num_nodes, normalize="mean")`` is message passing
# ``y[v] = mean_{(u,v)∈E} x[u] W``. On a ring with chords, compare it with the dense
# normalised adjacency matrix.

ring = torch.arange(N)
edges = torch.cat([torch.stack([ring, (ring + 1) % N]), torch.stack([ring, (ring + 3) % N]),
                   torch.stack([(ring + 1) % N, ring])], 1)
message = graph(edges, N, normalize="mean", dtype=torch.float64)
features = torch.randn(N, 5, dtype=torch.float64)
weight = torch.randn(1, 5, 7, dtype=torch.float64)  # one edge type: [types, c_in, c_out]
adjacency = torch.zeros(N, N, dtype=torch.float64)
adjacency[edges[1], edges[0]] = 1.0
adjacency = adjacency / adjacency.sum(1, keepdim=True)
print("edges:", edges.shape[1], " span == D⁻¹ A X W:",
      torch.allclose(message(weight, features), adjacency @ features @ weight[0]))
