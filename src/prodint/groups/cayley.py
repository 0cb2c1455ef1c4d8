"""Cayley tables checked against the group axioms.

A finite group of order ``n`` is given by an ``[n, n]`` integer table with ``table[a, b]`` the
index of ``a * b``. :func:`as_table` turns a user's table into a long CPU tensor and
:func:`validate_table` checks closure, the Latin-square property, a two-sided identity and
inverses, and associativity (in chunks), naming the first failure.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["CHUNK_ENTRIES", "as_table", "validate_table"]

#: Upper bound on the number of entries materialised at once by the associativity check (and
#: the composition of permutations in :func:`~prodint.groups.symmetric`), so that a table of
#: order a few hundred does not allocate gigabytes.
CHUNK_ENTRIES = 1 << 22


def as_table(table: Any) -> torch.Tensor:
    """Convert ``table`` to a long tensor, rejecting non-integer input with TypeError."""
    if isinstance(table, torch.Tensor):
        t = table.detach()
    else:
        try:
            t = torch.as_tensor(table)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(
                "table: expected an integer tensor, array or nested list, "
                f"got {type(table).__name__}"
            ) from exc
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"table: expected an integer dtype, got {t.dtype}")
    if t.device.type == "meta":
        raise ValueError("table: expected a tensor with data, received one on the meta device")
    return t.to(device="cpu", dtype=torch.long).contiguous()


def validate_table(t: torch.Tensor) -> tuple[int, torch.Tensor]:
    """Check the group axioms on a long tensor; return ``(identity, inverse)``.

    Raises:
        ValueError: naming ``table``, what was expected and what was received.
    """
    if t.dim() != 2 or t.shape[0] != t.shape[1]:
        raise ValueError(f"table: expected a square [n, n] tensor, got shape {tuple(t.shape)}")
    n = t.shape[0]
    if n == 0:
        raise ValueError("table: expected at least one element, got an empty [0, 0] table")
    lo, hi = int(t.min()), int(t.max())
    if lo < 0 or hi >= n:
        bad = int(t[(t < 0) | (t >= n)][0])
        raise ValueError(
            f"table: expected entries in 0..{n - 1} (closure), got value {bad} (min {lo}, max {hi})"
        )
    ar = torch.arange(n)
    rows_ok = (torch.sort(t, dim=1).values == ar).all(dim=1)
    if not bool(rows_ok.all()):
        r = int((~rows_ok).nonzero()[0])
        raise ValueError(
            f"table: expected a Latin square (each row a permutation of 0..{n - 1}), "
            f"got row {r} = {t[r].tolist()}"
        )
    cols_ok = (torch.sort(t, dim=0).values == ar[:, None]).all(dim=0)
    if not bool(cols_ok.all()):
        c = int((~cols_ok).nonzero()[0])
        raise ValueError(
            f"table: expected a Latin square (each column a permutation of 0..{n - 1}), "
            f"got column {c} = {t[:, c].tolist()}"
        )
    left_id = (t == ar).all(dim=1)  # e * b == b for all b
    right_id = (t == ar[:, None]).all(dim=0)  # a * e == a for all a
    both = (left_id & right_id).nonzero().flatten()
    if both.numel() == 0:
        raise ValueError(
            "table: expected a two-sided identity e with table[e, b] == b and table[a, e] == a, "
            f"got left identities {left_id.nonzero().flatten().tolist()} and right identities "
            f"{right_id.nonzero().flatten().tolist()}"
        )
    e = int(both[0])
    # In a Latin square each row holds e exactly once, so right inverses are unique.
    inv = (t == e).to(torch.long).argmax(dim=1)
    left_ok = t[inv, ar] == e
    if not bool(left_ok.all()):
        a = int((~left_ok).nonzero()[0])
        raise ValueError(
            f"table: expected two-sided inverses, got element {a} with right inverse "
            f"{int(inv[a])} but table[{int(inv[a])}, {a}] = {int(t[inv[a], a])} != identity {e}"
        )
    chunk = max(1, CHUNK_ENTRIES // (n * n))
    for start in range(0, n, chunk):
        rows = t[start : start + chunk]  # [ca, n]: rows[a, b] = a*b
        lhs = t[rows]  # [ca, n, n]: (a*b)*c
        rhs = rows[:, t]  # [ca, n, n]: a*(b*c)
        bad = (lhs != rhs).nonzero()
        if bad.numel():
            da, b, c = (int(x) for x in bad[0])
            a = start + da
            raise ValueError(
                "table: expected an associative operation, got a non-associative triple "
                f"(a, b, c) = ({a}, {b}, {c}): (a*b)*c = {int(lhs[da, b, c])} but "
                f"a*(b*c) = {int(rhs[da, b, c])}"
            )
    return e, inv
