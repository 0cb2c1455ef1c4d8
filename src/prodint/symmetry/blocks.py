"""Irrep-typed layouts in the expression language: a block as a tie, blocks placed back.

A feature of layout ``16x0e + 8x1o`` is one flat axis ``[dim]`` whose block ``i``, of
``mul x ir``, holds ``mul`` copies of ``ir`` channel-major (``[mul, 2l+1]``). Equivariant layers
act block by block, so their expressions need two fixed linear maps, both stated as tie
tables (:class:`~prodint.interaction.Gather`), hence of the order of their argument:

- :func:`block`: ``x[..., dim] ↦ x_i[..., mul, 2l+1]``, the coordinates of block ``i``;
- :func:`place`: per-block values ``y_i[..., mul, 2l+1]`` ↦ ``Σ_i embed_i(y_i)[..., dim]``,
  each placed at its block's coordinates (zero elsewhere; blocks nobody fills stay zero).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from prodint.interaction import Expr, Gather, Sum
from prodint.symmetry.irreps import Irreps

__all__ = ["block", "place"]


def block(x: Expr, irreps: Irreps, i: int, name: str, axes: tuple[str, str]) -> Gather:
    """Block ``i`` of ``x`` (one axis, the layout of ``irreps``) as ``[mul, 2l+1]``.

    Args:
        x: an expression with the single axis of the layout.
        irreps: the layout.
        i: the block.
        name: the tie's name (its table is ``constants.<name>_index``).
        axes: names of the multiplicity and component axes of the result.
    """
    if len(x.axes) != 1 or x.axes[0].size != irreps.dim:
        raise ValueError(f"x: expected one axis of size {irreps.dim} (layout {irreps}), "
                         f"received axes {list(x.axes)}")
    mul, ir = irreps[i]
    start = irreps.slices()[i].start
    index = start + torch.arange(mul * ir.dim).view(mul, ir.dim)
    return Gather(x, name, index, [(axes[0], mul), (axes[1], ir.dim)])


def place(parts: Mapping[int, Expr], irreps: Irreps, axis: str, name: str,
          axes: tuple[str, str]) -> Expr:
    """``Σ_i embed_i(parts[i])``: each part (axes ``axes`` = (multiplicity, component), in any
    order) at the coordinates of block ``i`` of an axis ``axis`` of layout ``irreps``.

    Args:
        parts: block index → its value; blocks missing from it are zero.
        irreps: the output layout.
        axis: the name of the output's layout axis.
        name: prefix of the ties' names (``<name><i>``).
        axes: the names of the parts' multiplicity and component axes.
    """
    if not parts:
        raise ValueError(f"parts: expected at least one block of {irreps} to place, received "
                         "none")
    slices = irreps.slices()
    placed = []
    for i, part in parts.items():
        mul, ir = irreps[i]
        names = part.axis_names
        if sorted(names) != sorted(axes) or part.axes[names.index(axes[0])].size != mul or \
                part.axes[names.index(axes[1])].size != ir.dim:
            raise ValueError(f"parts[{i}]: expected axes {axes[0]}={mul}, {axes[1]}={ir.dim} "
                             f"(block {mul}x{ir} of {irreps}), received {list(part.axes)}")
        strides = {names[-1]: 1, names[0]: part.axes[-1].size}
        w, k = torch.meshgrid(torch.arange(mul), torch.arange(ir.dim), indexing="ij")
        index = torch.zeros(irreps.dim, dtype=torch.long)
        weight = torch.zeros(irreps.dim, dtype=torch.float64)
        index[slices[i]] = (w * strides[axes[0]] + k * strides[axes[1]]).flatten()
        weight[slices[i]] = 1.0
        whole = bool((weight == 1).all())  # the block is the layout: a reshape
        placed.append(Gather(part, f"{name}{i}", index, [(axis, irreps.dim)],
                             weight=None if whole else weight))
    return placed[0] if len(placed) == 1 else Sum(*placed)
