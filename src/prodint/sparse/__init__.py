"""Layers as sparse matrices (Zhu, "Unified sparse-matrix representations").

A linear layer on a fixed input shape is a matrix ``M`` and a bias ``b`` with
``layer(x).flatten() == M @ x.flatten() + b``; prodint builds ``M`` from the layer's span
(:func:`prodint.spans.lower`), never by probing the layer with basis vectors. A valid
convolution is a banded upper-triangular matrix in the source's index convention, an
unrolled linear recurrence a block lower-triangular one, and attention a data-dependent
matrix that factorizes a third-order tensor.

A valid 1-D convolution with 3 taps on 6 inputs is a ``[4, 6]`` matrix with 3 entries a row:

>>> from torch import nn
>>> from prodint.sparse import to_sparse_matrix
>>> from prodint.zoo import from_torch
>>> M, b = to_sparse_matrix(from_torch(nn.Conv1d(1, 1, 3)), (1, 6))
>>> M.shape, M.values().numel()
(torch.Size([4, 6]), 12)
"""

from prodint.sparse.attention import attention_matrix, attention_tensor
from prodint.sparse.matrix import to_sparse_matrix, unroll
from prodint.sparse.module import SparseLayer, sparsify
from prodint.sparse.pattern import SparsePattern

__all__ = [
    "SparseLayer",
    "SparsePattern",
    "attention_matrix",
    "attention_tensor",
    "sparsify",
    "to_sparse_matrix",
    "unroll",
]
