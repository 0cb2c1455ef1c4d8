"""Index maps: a fixed linear map written as the sparse triples it is made of.

A structural node ``L`` (pad, window, stride, upsample, flip, permutation, mask, tie, ...)
is a fixed linear map of its operand's values. On concrete axis sizes it is the list of
triples

    ``y_flat[target[m]] += weight[m] * u_flat[source[m]]``        (``m = 0, …, M-1``)

over the row-major flattened axes of ``u`` (the operand) and ``y`` (the node's value), with
``weight`` 1 when absent: :class:`IndexMap`. Every structural node states its map with an
``index_map(sizes)`` method (``sizes``: the operand's axis sizes, free ones resolved), and the
span lowering (:func:`prodint.spans.lower`) composes them; nothing is learned from evaluating
the node.

The helpers build the common shapes of map: :func:`identity` (renames, reshapes, masks,
scales), :func:`permutation`, and :func:`along_axis` (``y[..., j, ...] = u[..., p[j], ...]``,
the map of padding, windows, flips and upsampling).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from prodint.checks import check_memory

__all__ = ["IndexMap", "along_axis", "coordinates", "grid", "identity", "permutation"]


@dataclass(frozen=True)
class IndexMap:
    """``y_flat[target[m]] += weight[m] · u_flat[source[m]]`` (see the module docstring).

    Attributes:
        target: int64 ``[M]``, entries of the value (flattened ``sizes``).
        source: int64 ``[M]``, entries of the operand.
        weight: float64 ``[M]``, or ``None`` for ones.
        sizes: the axis sizes of the value.
    """

    target: Tensor
    source: Tensor
    weight: Tensor | None
    sizes: tuple[int, ...]


def grid(sizes: Sequence[int]) -> Tensor:
    """``arange(prod(sizes))`` shaped ``sizes``: the flat index of every coordinate.

    Raises:
        ValueError: a grid too large for memory.
    """
    count = math.prod(sizes)
    check_memory(count * 8, "sizes", "the index map")
    return torch.arange(count).reshape(tuple(sizes))


def coordinates(flat: Tensor, sizes: Sequence[int]) -> Tensor:
    """``[len(flat), len(sizes)]``: the row-major coordinates of flat indices."""
    out = torch.empty(flat.shape[0], len(sizes), dtype=torch.int64)
    rest = flat
    for i in range(len(sizes) - 1, -1, -1):
        out[:, i] = rest % sizes[i] if sizes[i] else 0
        rest = torch.div(rest, sizes[i], rounding_mode="floor") if sizes[i] else rest
    return out


def identity(sizes: Sequence[int], out_sizes: Sequence[int] | None = None, *,
             weight: Tensor | None = None, keep: Tensor | None = None) -> IndexMap:
    """The map ``y_flat = weight · u_flat`` (same flat index; ``out_sizes`` reshapes), with
    only the entries where ``keep`` (bool, shaped ``sizes``) holds."""
    flat = grid(sizes).reshape(-1)
    if keep is not None:
        mask = keep.reshape(-1)
        flat = flat[mask]
        weight = None if weight is None else weight.reshape(-1)[mask]
    elif weight is not None:
        weight = weight.reshape(-1)
    sizes = tuple(sizes if out_sizes is None else out_sizes)
    return IndexMap(flat, flat, weight, sizes)


def permutation(sizes: Sequence[int], perm: Sequence[int]) -> IndexMap:
    """``y = u.permute(perm)``: entry ``i`` of ``y`` reads the entry of ``u`` it came from."""
    source = grid(sizes).permute(*perm).reshape(-1)
    return IndexMap(torch.arange(source.shape[0]), source, None,
                    tuple(sizes[p] for p in perm))


def along_axis(sizes: Sequence[int], dim: int, positions: Tensor,
               out_sizes: Sequence[int]) -> IndexMap:
    """``y[..., j, ...] = u[..., positions[j], ...]`` along axis ``dim`` (``-1``: zero).

    ``out_sizes`` are the value's sizes; their product must be that of ``sizes`` with axis
    ``dim`` replaced by ``len(positions)`` (a window unflattens it into two axes).
    """
    taken = grid(sizes).index_select(dim, positions.clamp(min=0))
    valid = (positions >= 0).reshape([-1 if i == dim else 1 for i in range(len(sizes))])
    valid = valid.expand(taken.shape).reshape(-1)
    source = taken.reshape(-1)
    target = torch.arange(source.shape[0])
    return IndexMap(target[valid], source[valid], None, tuple(out_sizes))
