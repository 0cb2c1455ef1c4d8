"""Sparse forms: the value of an expression node as a sum of sparse triples, in symbols.

Lowering an expression (:mod:`prodint.spans.lower`) gives every node a :class:`Form`: a list
of entries ``e`` stating

    ``value[coords_e] += weight_e · Π_k base[mono_e,k] · x_flat[source_e]``

where ``x_flat`` is the signal flattened (``source_e = -1``: no signal, a constant term such
as a bias), ``base`` the layer's coefficients flattened into one vector with ``base[0] = 1``
(parameters, and the parameter-only sub-expressions that are not polynomial, evaluated when
the layer runs) and ``mono_e`` a monomial of them (``0`` pads). A node's form is computed
from its operands' forms: a structural map composes with its index map
(:func:`through_map`), a contraction or an algebra product is a join of the two operands'
entries on their shared coordinates (:func:`join`), a sum concatenates (:func:`broadcast`).
The output node's form with its signal entries is the span of the layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from prodint.checks import check_memory
from prodint.interaction.index_map import IndexMap, coordinates, grid

__all__ = ["Form", "broadcast", "concat", "constant", "join", "leaf", "signal",
           "through_map"]


@dataclass(frozen=True)
class Form:
    """The entries of a node's value (see the module docstring).

    Attributes:
        names, sizes: the node's axes and their concrete sizes.
        coords: int64 ``[E, len(names)]``.
        source: int64 ``[E]``, an entry of the flattened signal or ``-1``.
        mono: int64 ``[E, D]``, indices into the coefficient vector (``0`` is the constant 1).
        weight: float64 ``[E]``.
    """

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    coords: Tensor
    source: Tensor
    mono: Tensor
    weight: Tensor

    @property
    def count(self) -> int:
        """The number of entries."""
        return int(self.coords.shape[0])

    def flat(self) -> Tensor:
        """``[E]``: the row-major flat index of every entry's coordinates."""
        return ravel(self.coords, self.sizes)

    def take(self, index: Tensor) -> Form:
        """The entries ``index`` (a subset, or repeated)."""
        return Form(self.names, self.sizes, self.coords[index], self.source[index],
                    self.mono[index], self.weight[index])

    def renamed(self, mapping: dict[str, str]) -> Form:
        """The same entries with axes renamed."""
        return Form(tuple(mapping.get(n, n) for n in self.names), self.sizes, self.coords,
                    self.source, self.mono, self.weight)


def ravel(coords: Tensor, sizes: Sequence[int]) -> Tensor:
    """Row-major flat indices of ``coords [E, k]`` on a grid of ``sizes``."""
    flat = torch.zeros(coords.shape[0], dtype=torch.int64)
    for i, size in enumerate(sizes):
        flat = flat * size + coords[:, i]
    return flat


def _all_coordinates(sizes: Sequence[int]) -> Tensor:
    return coordinates(grid(sizes).reshape(-1), sizes)


def signal(names: Sequence[str], sizes: Sequence[int]) -> Form:
    """The signal itself: entry ``i`` is ``x_flat[i]``."""
    count = math.prod(sizes)
    return Form(tuple(names), tuple(sizes), _all_coordinates(sizes), torch.arange(count),
                torch.zeros(count, 0, dtype=torch.int64), torch.ones(count, dtype=torch.float64))


def leaf(names: Sequence[str], sizes: Sequence[int], offset: int) -> Form:
    """A coefficient tensor stored at ``base[offset : offset + numel]`` (row-major)."""
    count = math.prod(sizes)
    return Form(tuple(names), tuple(sizes), _all_coordinates(sizes),
                torch.full((count,), -1, dtype=torch.int64),
                (offset + torch.arange(count))[:, None], torch.ones(count, dtype=torch.float64))


def constant(names: Sequence[str], value: Tensor) -> Form:
    """A fixed tensor: one entry per non-zero, weighted by it."""
    value = value.detach().cpu().to(torch.float64)
    coords = torch.nonzero(value)
    return Form(tuple(names), tuple(value.shape), coords,
                torch.full((coords.shape[0],), -1, dtype=torch.int64),
                torch.zeros(coords.shape[0], 0, dtype=torch.int64), value[tuple(coords.T)])


def _pairs(left: Tensor, right: Tensor, what: str) -> tuple[Tensor, Tensor]:
    """Every pair ``(i, j)`` with ``left[i] == right[j]``."""
    order = torch.argsort(right, stable=True)
    ordered = right[order]
    low = torch.searchsorted(ordered, left, right=False)
    high = torch.searchsorted(ordered, left, right=True)
    counts = high - low
    total = int(counts.sum())
    check_memory(total * 8 * 8, "layer", what)
    i = torch.repeat_interleave(torch.arange(left.shape[0]), counts)
    offset = torch.arange(total) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts,
                                                           counts)
    return i, order[low[i] + offset]


def _monomials(left: Tensor, right: Tensor) -> Tensor:
    """Products of monomials: the indices side by side, sorted, all-zero columns dropped."""
    mono = torch.cat([left, right], dim=1)
    if mono.shape[1] <= 1:
        return mono
    mono = torch.sort(mono, dim=1, descending=True).values
    used = int((mono != 0).any(0).sum())
    return mono[:, :used]


def _combine(u: Form, v: Form, iu: Tensor, iv: Tensor, node: str) -> tuple[Tensor, Tensor]:
    """Source and monomial of the products of entries ``iu`` of ``u`` and ``iv`` of ``v``."""
    su, sv = u.source[iu], v.source[iv]
    if bool(((su >= 0) & (sv >= 0)).any()):
        raise ValueError(f"layer: expected an expression linear in its signal; {node} "
                         "multiplies two factors that both depend on it")
    return torch.where(su >= 0, su, sv), _monomials(u.mono[iu], v.mono[iv])


def join(u: Form, v: Form, over: Sequence[str], names: Sequence[str], node: str) -> Form:
    """``Σ_{over} u v``: entries of ``u`` and ``v`` agreeing on every shared axis, multiplied;
    the shared axes not in ``over`` are kept (batched). ``names`` orders the result's axes
    (each an axis of ``u`` or ``v``); ``node`` names the node in messages."""
    shared = [n for n in u.names if n in v.names]
    key_sizes = [u.sizes[u.names.index(n)] for n in shared]
    key_u = ravel(u.coords[:, [u.names.index(n) for n in shared]], key_sizes)
    key_v = ravel(v.coords[:, [v.names.index(n) for n in shared]], key_sizes)
    iu, iv = _pairs(key_u, key_v, f"the span of {node}")
    source, mono = _combine(u, v, iu, iv, node)
    columns, sizes = [], []
    for n in names:
        if n in u.names:
            columns.append(u.coords[iu, u.names.index(n)])
            sizes.append(u.sizes[u.names.index(n)])
        else:
            columns.append(v.coords[iv, v.names.index(n)])
            sizes.append(v.sizes[v.names.index(n)])
    coords = torch.stack(columns, 1) if columns else torch.zeros(iu.shape[0], 0,
                                                                 dtype=torch.int64)
    return Form(tuple(names), tuple(sizes), coords, source, mono, u.weight[iu] * v.weight[iv])


def through_map(form: Form, index_map: IndexMap, names: Sequence[str]) -> Form:
    """The form of ``L(u)`` for a structural map ``L`` given by its index map."""
    ie, im = _pairs(form.flat(), index_map.source, "the span of a structural map")
    weight = form.weight[ie]
    if index_map.weight is not None:
        weight = weight * index_map.weight[im]
    coords = coordinates(index_map.target[im], index_map.sizes)
    return Form(tuple(names), index_map.sizes, coords, form.source[ie], form.mono[ie], weight)


def broadcast(form: Form, names: Sequence[str], sizes: Sequence[int]) -> Form:
    """``form`` on the axes ``names`` (a superset of its own): entries repeated along the
    axes it lacks (as a sum's terms broadcast)."""
    missing = [(i, n) for i, n in enumerate(names) if n not in form.names]
    copies = math.prod(sizes[i] for i, _ in missing)
    check_memory(form.count * copies * 8 * 8, "layer", "a broadcast term of the span")
    index = torch.arange(form.count).repeat_interleave(copies)
    out = form.take(index)
    extra = coordinates(torch.arange(copies).repeat(form.count),
                        [sizes[i] for i, _ in missing])
    columns = []
    for i, n in enumerate(names):
        if n in form.names:
            columns.append(out.coords[:, form.names.index(n)])
        else:
            columns.append(extra[:, [j for j, _ in missing].index(i)])
    coords = torch.stack(columns, 1) if columns else out.coords[:, :0]
    return Form(tuple(names), tuple(sizes), coords, out.source, out.mono, out.weight)


def concat(forms: Sequence[Form]) -> Form:
    """The entries of several forms over the same axes (a sum)."""
    width = max(f.mono.shape[1] for f in forms)
    monos = [torch.cat([f.mono, f.mono.new_zeros(f.count, width - f.mono.shape[1])], 1)
             for f in forms]
    first = forms[0]
    return Form(first.names, first.sizes, torch.cat([f.coords for f in forms]),
                torch.cat([f.source for f in forms]), torch.cat(monos),
                torch.cat([f.weight for f in forms]))
