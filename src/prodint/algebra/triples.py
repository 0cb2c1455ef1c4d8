"""The sparse triples of an algebra: validated, merged, sorted by ``(c, a, b)``.

Sorting by the combined key ``(c·n + a)·n + b`` is one sort, but the key overflows int64 once
``n³ ≥ 2⁶³`` (``n > 2,097,152``), which would silently corrupt the structure constants of a
large Hadamard or group algebra: above that dimension the triples are sorted one column at a
time by stable sorts instead. Triples already in order (as the catalogue builds most of them)
are not sorted at all.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.algebra.arguments import check_data, check_real_dtype, check_structure_size
from prodint.checks import check_same_device


def _as_tensor(value: object, argument: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"{argument}: expected a tensor (or nested lists of numbers), received "
                        f"{type(value).__name__}: {error}") from None


#: The largest dimension whose combined key ``(c·n + a)·n + b`` fits in int64 (``n³ < 2⁶³``).
MAX_KEYED_DIM = 2**21


def _increasing(triples: Tensor) -> bool:
    """Whether the rows are strictly increasing in ``(c, a, b)`` (sorted, no duplicates)."""
    a, b, c = (t.diff() for t in triples.unbind(-1))
    return bool(((c > 0) | ((c == 0) & ((a > 0) | ((a == 0) & (b > 0))))).all())


def lexsort(triples: Tensor, dim: int) -> Tensor:
    """The stable permutation sorting the rows ``(a, b, c)`` by ``(c, a, b)``: one sort of the
    combined key while it fits in int64 (``dim <= MAX_KEYED_DIM``), else stable sorts on one
    column at a time."""
    a, b, c = triples.unbind(-1)
    if dim <= MAX_KEYED_DIM:
        return torch.argsort((c * dim + a) * dim + b, stable=True)
    order = torch.argsort(b, stable=True)
    for column in (a, c):
        order = order[torch.argsort(column[order], stable=True)]
    return order


def coalesce(triples: object, values: object, dim: int, *,
             names: bool = False) -> tuple[Tensor, Tensor]:
    """Validate, merge duplicates, drop zeros and sort the triples by ``(c, a, b)``;
    ``names``: the algebra will also hold ``dim`` default basis names (for the size check)."""
    triples = _as_tensor(triples, "triples")
    values = _as_tensor(values, "values")
    check_same_device(triples=check_data(triples, "triples"), values=check_data(values, "values"))
    if triples.dtype.is_floating_point or triples.dtype.is_complex or triples.dtype == torch.bool:
        raise TypeError(f"triples: expected an integer tensor, received dtype {triples.dtype}")
    if triples.dim() != 2 or triples.shape[1] != 3:
        raise ValueError(
            f"triples: expected shape [nnz, 3], received {tuple(triples.shape)}"
        )
    check_real_dtype(values, "values")
    if values.shape != (triples.shape[0],):
        raise ValueError(
            f"values: expected shape [{triples.shape[0]}] (one per row of triples), "
            f"received {tuple(values.shape)}"
        )
    check_structure_size(triples.shape[0], 0, "triples")
    if names:
        check_structure_size(0, dim, "dim")
    if not values.dtype.is_floating_point:
        values = values.to(torch.get_default_dtype())
    if not torch.isfinite(values).all():
        raise ValueError("values: expected finite structure constants, received NaN or inf")
    triples = triples.long()
    if triples.numel() and (int(triples.min()) < 0 or int(triples.max()) >= dim):
        raise ValueError(
            f"triples: expected indices in [0, {dim}) (dim = {dim}), received range "
            f"[{int(triples.min())}, {int(triples.max())}]"
        )
    if _increasing(triples):  # the catalogue's usual case: nothing to sort or merge
        unique, merged = triples, values
    else:
        order = lexsort(triples, dim)
        triples, values = triples[order], values[order]
        first = torch.ones(triples.shape[0], dtype=torch.bool, device=triples.device)
        first[1:] = (triples[1:] != triples[:-1]).any(-1)
        unique = triples[first]
        merged = torch.zeros(unique.shape[0], dtype=values.dtype, device=values.device)
        merged.index_add_(0, torch.cumsum(first, 0) - 1, values)
    keep = merged != 0
    return unique[keep].contiguous(), merged[keep].contiguous()
