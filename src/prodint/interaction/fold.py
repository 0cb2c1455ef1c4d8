"""The structure-constant fold: an algebra-valued filter as the real matrix it multiplies by.

A filter ``k`` in an algebra ``A`` (structure constants ``Γ``, ``e_a e_b = Σ_c Γ[a,b,c] e_c``)
acts on the other factor ``x`` of a product as a real ``n × n`` matrix, ``(x·k)_c =
Σ_a x_a M[a, c]`` or ``(k·x)_c = Σ_a x_a M[a, c]``:

    right multiplication (``y = x·k``, the filter on the right):  M[a, c] = Σ_b Γ[a, b, c] k_b
    left multiplication  (``y = k·x``, the filter on the left):   M[a, c] = Σ_b Γ[b, a, c] k_b

Folding the structure constants into the filter once turns a product layer over channels of
algebra elements (complex, quaternion, Clifford, group-algebra layers) into ONE real matmul or
convolution with ``n``-times more input and output channels. :func:`fold` states the fold in
the expression language: a :class:`~prodint.interaction.ties.Gather` of the filter whose
index table picks ``k_b`` and whose weights are the structure constants ``Γ``, built from the
algebra's sparse triples (:func:`fold_tables`). The layer's parameter stays the filter (``n``
numbers per channel pair, not ``n²``), and the compiled expression is the folded layer itself.

Each ``(a, c)`` entry of ``M`` sums ``r`` terms, ``r`` the largest number of triples sharing
an ``(a, c)`` pair: 1 for Clifford and group algebras (``e_a e_b = ± e_c`` fixes ``e_b``), so
the fold is a plain gather with a sign table; more for denser algebras (entries with fewer
terms are padded with weight 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.algebra.core import Algebra
from prodint.checks import check_name, check_names
from prodint.interaction.axes import Axis, find_axis
from prodint.interaction.expr import Expr, check_expr
from prodint.interaction.ties import Gather

__all__ = ["FOLD_SIDES", "fold", "fold_tables"]

#: Where the filter stands in the product: ``"right"`` (``x·k``) or ``"left"`` (``k·x``).
FOLD_SIDES = ("right", "left")


def _check_algebra(algebra: object) -> Algebra:
    if not isinstance(algebra, Algebra):
        raise TypeError(f"algebra: expected a prodint Algebra with fixed structure constants, "
                        f"received {type(algebra).__name__}")
    return algebra


def _check_side(side: object) -> str:
    if side not in FOLD_SIDES:
        raise ValueError(f"side: expected one of {FOLD_SIDES}, received {side!r}")
    return side  # type: ignore[return-value]


def fold_tables(algebra: Algebra, side: str) -> tuple[Tensor, Tensor]:
    """``(index, weight)``, both ``[n, n, r]``: ``M[a, c] = Σ_r weight[a, c, r] k[index[a, c, r]]``.

    ``M`` is the right (``side="right"``, ``M[a, c] = Σ_b Γ[a, b, c] k_b``) or left
    (``side="left"``, ``M[a, c] = Σ_b Γ[b, a, c] k_b``) multiplication matrix of ``k``
    (module doc). Built from the algebra's triples; ``r >= 1`` is the largest number of
    triples sharing an ``(a, c)`` pair, and missing terms have index 0 and weight 0.
    """
    algebra = _check_algebra(algebra)
    side = _check_side(side)
    n = algebra.dim
    triples, values = algebra.triples.cpu(), algebra.values.detach().cpu()
    first, second, target = triples.unbind(-1)
    row, source = (first, second) if side == "right" else (second, first)
    key = row * n + target
    order = torch.argsort(key, stable=True)
    key, source, values = key[order], source[order], values[order]
    counts = torch.bincount(key, minlength=n * n)
    terms = max(1, int(counts.max())) if key.numel() else 1
    rank = torch.arange(key.numel()) - (torch.cumsum(counts, 0) - counts)[key]
    index = torch.zeros(n * n, terms, dtype=torch.long)
    weight = torch.zeros(n * n, terms, dtype=values.dtype)
    index[key, rank] = source
    weight[key, rank] = values
    return index.view(n, n, terms), weight.view(n, n, terms)


def fold(filter: Expr, algebra: Algebra, axis: str, *, side: str, input_axis: str,
         output_axis: str, order: Sequence[str] | None = None, name: str = "fold") -> Gather:
    """The multiplication matrix of an algebra-valued filter, as a tie table of the filter.

    The filter's axis ``axis`` (the algebra coordinate ``b``, size ``n``) becomes two axes:
    ``input_axis`` (``a``, the other factor's coordinate) and ``output_axis`` (``c``, the
    product's coordinate), ``M[..., a, c, ...] = Σ_b Γ · filter[..., b, ...]`` (module doc for
    the two sides). The other axes of the filter (channels, taps) pass through.

    Args:
        filter: the filter (usually a :class:`~prodint.interaction.Parameter`) with fixed sizes.
        algebra: the algebra, with fixed structure constants.
        axis: the filter's algebra axis.
        side: ``"right"`` for ``x·k``, ``"left"`` for ``k·x``.
        input_axis, output_axis: names of the two new axes (typed by ``algebra``).
        order: the result's axes in the order wanted (the filter's other axes and the two new
            ones); default: the filter's axes with ``axis`` replaced in place by
            ``(input_axis, output_axis)``. Choosing it lets a fast path read the folded weight
            in its kernel's layout with a reshape (e.g. ``[(o, c), (i, a), *taps]`` for a
            convolution).
        name: the tie's name (tables ``constants.<name>_index`` / ``<name>_weight``).

    Returns:
        A :class:`~prodint.interaction.ties.Gather`, order ``ord(filter)``, linear in it.

    Raises:
        TypeError: arguments of the wrong kind (a filter that is not an expression, an
            algebra without fixed structure constants, names that are not str).
        ValueError: an unknown side, an axis missing or of another size than the algebra's
            dimension, new axis names that clash, an ``order`` that is not a permutation of
            the result's axes.
    """
    algebra = _check_algebra(algebra)
    side = _check_side(side)
    check_expr(filter, "filter")
    check_name(input_axis, "input_axis")
    check_name(output_axis, "output_axis")
    check_name(name, "name")
    position = find_axis(filter.axes, axis, argument="axis", owner="the filter")
    if filter.axes[position].size != algebra.dim:
        raise ValueError(f"axis: expected size {algebra.dim} = dim({algebra.name}), received "
                         f"axis {filter.axes[position]!r}")
    others = [a for a in filter.axes if a.name != axis]
    if input_axis == output_axis or {input_axis, output_axis} & {a.name for a in others}:
        raise ValueError(f"input_axis/output_axis: expected two new axis names, received "
                         f"{input_axis!r} and {output_axis!r} (the filter has "
                         f"{[a.name for a in others]} besides {axis!r})")
    default = [a.name for a in filter.axes[:position]] + [input_axis, output_axis] + \
        [a.name for a in filter.axes[position + 1:]]
    order = default if order is None else list(check_names(order, "order"))
    if sorted(order) != sorted(default):
        raise ValueError(f"order: expected a permutation of {default} (the filter's axes with "
                         f"input_axis and output_axis), received {order}")
    n = algebra.dim
    table_index, table_weight = fold_tables(algebra, side)
    terms = table_index.shape[-1]
    # Row-major strides of the filter's flattened entries.
    strides, stride = {}, 1
    for a in reversed(filter.axes):
        strides[a.name] = stride
        stride *= a.size  # type: ignore[operator]
    out_axes = {a.name: a for a in others}
    out_axes[input_axis] = Axis(input_axis, n, algebra)
    out_axes[output_axis] = Axis(output_axis, n, algebra)
    sizes = [out_axes[name].size for name in order]
    k = len(order)

    def placed(values: Tensor, names: Sequence[str]) -> Tensor:
        """``values`` (axes ``names``, then the term axis) broadcast to the result's layout."""
        perm = sorted(range(len(names)), key=lambda i: order.index(names[i]))
        moved = values.permute(*perm, len(names))
        shape = [1] * k + [values.shape[-1]]
        for i in perm:
            shape[order.index(names[i])] = values.shape[i]
        return moved.reshape(shape)

    index = placed(table_index * strides[axis], (input_axis, output_axis))
    for a in others:
        coordinate = torch.arange(a.size) * strides[a.name]  # type: ignore[arg-type]
        index = index + placed(coordinate[:, None], (a.name,))
    index = index.expand(*sizes, terms)
    weight = placed(table_weight, (input_axis, output_axis)).expand(*sizes, terms)
    if terms == 1:  # one term per entry (Clifford, group algebras): a gather and a sign
        index, weight = index[..., 0], weight[..., 0]
    # Unit structure constants (group algebras) need no multiplication at all.
    ties = None if bool((weight == 1).all()) else weight.contiguous()
    return Gather(filter, name, index.contiguous(), [out_axes[a] for a in order], weight=ties)
