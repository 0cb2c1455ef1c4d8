"""The fast kernels of the tensor products: per path, a few matmuls instead of a dense ``Γ``.

For the fully connected product (:func:`contract_paths`), per path ``C`` is folded into the
input with the fewer components and ``min(d1, d2)`` broadcast multiply-adds build
``z[b, k, u, v]`` (:func:`outer_contract`), then one ``[B·d3, UV] @ [UV, W]`` matmul is
accumulated into the output block. :mod:`prodint.symmetry.tensor_product` has the layers,
their expressions and the cost model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.symmetry.irreps import Irreps

__all__ = ["Term", "blocks_of", "check_pair", "contract_paths", "outer_contract"]


def blocks_of(x: Tensor, irreps: Irreps) -> list[Tensor]:
    """``[B, dim] → [[B, mul, 2l+1] per block]`` (views)."""
    return [x[:, sl].reshape(x.shape[0], mul, ir.dim)
            for (mul, ir), sl in zip(irreps, irreps.slices(), strict=True)]


def check_pair(x: Tensor, y: Tensor, irreps1: Irreps, irreps2: Irreps,
               names: tuple[str, str]) -> None:
    """Both inputs of a tensor product: their layouts, one leading shape, one dtype."""
    irreps1.check(x, names[0])
    irreps2.check(y, names[1])
    if x.shape[:-1] != y.shape[:-1]:
        raise ValueError(f"{names[1]}: expected leading shape {tuple(x.shape[:-1])} (that of "
                         f"{names[0]}), received {tuple(y.shape[:-1])}")
    if x.dtype != y.dtype:
        raise TypeError(f"{names[1]}: expected dtype {x.dtype} (that of {names[0]}), received "
                        f"{y.dtype}")


def outer_contract(x: Tensor, y: Tensor, cg: Tensor) -> Tensor:
    """``z[b, k, u, v] = Σ_{i,j} C[i, j, k] x[b, u, i] y[b, v, j]``: ``[B, d3, U, V]``.

    The smaller of the two component axes is looped over: with ``d1 <= d2``,
    ``Y[b, i, k, v] = Σ_j C[i, j, k] y[b, v, j]`` is one ``[B·V, d2] @ [d2, d1·d3]`` matmul and
    ``z = Σ_i x[b, i, None, u, None] · Y[b, i, k, None, v]`` takes ``d1`` broadcast
    multiply-adds (each a pass over ``z``); with ``d2 < d1`` the roles swap. Batched matmuls
    of ``B`` tiny matrices would be far slower than these passes on a CPU.
    """
    batch, mul1, d1 = x.shape
    _, mul2, d2 = y.shape
    d3 = cg.shape[2]
    # Operands laid out so that every broadcast product comes out contiguous [B, d3, U, V].
    if d1 <= d2:
        xt = x.transpose(1, 2).contiguous()  # [B, d1, U]
        other = y.reshape(batch * mul2, d2) @ cg.permute(1, 0, 2).reshape(d2, d1 * d3)
        other = other.view(batch, mul2, d1, d3).permute(0, 2, 3, 1).contiguous()  # [B,d1,d3,V]
        z = xt[:, 0, None, :, None] * other[:, 0, :, None, :]
        for i in range(1, d1):
            z = z + xt[:, i, None, :, None] * other[:, i, :, None, :]
        return z
    yt = y.transpose(1, 2).contiguous()  # [B, d2, V]
    other = x.reshape(batch * mul1, d1) @ cg.reshape(d1, d2 * d3)
    other = other.view(batch, mul1, d2, d3).permute(0, 2, 3, 1).contiguous()  # [B, d2, d3, U]
    z = other[:, 0, :, :, None] * yt[:, 0, None, None, :]
    for j in range(1, d2):
        z = z + other[:, j, :, :, None] * yt[:, j, None, None, :]
    return z


#: ``(block of a, block of b, output block, C [da, db, dout], M [mul_a·mul_b, mul_out])``.
Term = tuple[int, int, int, Tensor, Tensor]


def contract_paths(a: Tensor, b: Tensor, irreps_a: Irreps, irreps_b: Irreps,
                    irreps_out: Irreps, terms: Sequence[Term]) -> Tensor:
    """``out[b, o: w, k] = Σ_terms Σ_{u,v} z[b, k, u, v] M[(u, v), w]`` with ``z`` from
    :func:`outer_contract`; ``terms`` are ``(block_a, block_b, block_out, C, M)``.

    ``[B, dim_a] × [B, dim_b] → [B, dim_out]``: per term one ``z`` and one
    ``[B·d3, UV] @ [UV, W]`` matmul accumulated into its output block (``addmm``).
    """
    batch = a.shape[0]
    blocks_a, blocks_b = blocks_of(a, irreps_a), blocks_of(b, irreps_b)
    outs: list[Tensor | None] = [None] * len(irreps_out)
    for ia, ib, io, cg, m in terms:
        z = outer_contract(blocks_a[ia], blocks_b[ib], cg)
        z = z.reshape(batch * cg.shape[2], m.shape[0])
        prev = outs[io]
        outs[io] = z @ m if prev is None else torch.addmm(prev, z, m)
    blocks = []
    for (mul, ir), out in zip(irreps_out, outs, strict=True):
        if out is None:
            blocks.append(a.new_zeros(batch, mul * ir.dim))
        else:  # [(b, k), w] → [b, (w, k)]
            blocks.append(out.view(batch, ir.dim, mul).transpose(1, 2).reshape(batch,
                                                                                mul * ir.dim))
    return blocks[0] if len(blocks) == 1 else torch.cat(blocks, -1)
