"""Operation tables: the built-in tasks, user tables from JSON or CSV, and the train split.

A table is a ``[n, n]`` long tensor with ``table[a, b] = a∘b`` in ``0 … n-1``.

Tasks (``n`` is the number of symbols):

- ``zp-add``, ``zp-sub``: ``x ± y mod p`` on ``Z_p`` (``n = p``; both group isotopes).
- ``zp-mul``, ``zp-div``: ``x·y`` and ``x·y⁻¹ mod p`` on the units ``1 … p-1`` (``n = p-1``,
  symbol ``k`` is the residue ``k+1``; ``p`` prime; both group isotopes).
- ``zp-sq-sum``: ``x² + y² mod p`` on ``Z_p`` (not a Latin square, not a group).
- ``sn``: the product of ``S_k`` (``n = k!``, :func:`prodint.groups.symmetric`); ``s3``,
  ``s4``, ``s5`` are shorthands.
- ``zn``: ``x + y mod k`` (``Z_k`` for any ``k``); ``z6`` is a shorthand.
- ``sn-conj``: ``x y x⁻¹`` in ``S_k`` (not a Latin square, not a group).
- ``latin5``: a Latin square of order 5 that is not isotopic to a group: a loop with identity
  0 in which ``(1∘1)∘2 = 2`` but ``1∘(1∘2) = 4``; a loop isotopic to a group is a group, so it
  is not.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch
from torch import Tensor

from prodint.groups import cyclic, symmetric

LATIN5 = ((0, 1, 2, 3, 4),
          (1, 0, 3, 4, 2),
          (2, 4, 0, 1, 3),
          (3, 2, 4, 0, 1),
          (4, 3, 1, 2, 0))

TASKS: dict[str, str] = {
    "zp-add": "x + y mod p",
    "zp-sub": "x - y mod p",
    "zp-mul": "x * y mod p on the units",
    "zp-div": "x / y mod p on the units",
    "zp-sq-sum": "x^2 + y^2 mod p (not a group)",
    "zn": "x + y mod n",
    "sn": "product in S_n",
    "sn-conj": "x y x^-1 in S_n (not a group)",
    "s3": "product in S_3",
    "s4": "product in S_4",
    "s5": "product in S_5",
    "z6": "x + y mod 6",
    "latin5": "a Latin square of order 5 that is not a group isotope",
}
"""Task names with a one-line description."""

NEEDS_P = ("zp-add", "zp-sub", "zp-mul", "zp-div", "zp-sq-sum")
NEEDS_N = ("zn", "sn", "sn-conj")


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % d for d in range(2, int(p**0.5) + 1))


def _positive(value: int | None, name: str, task: str, minimum: int = 2) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: task {task!r} needs an int >= {minimum}, received {value!r}")
    return value


def make_table(task: str, *, p: int | None = None, n: int | None = None) -> Tensor:
    """The ``[n, n]`` table of a built-in task (see the module docstring).

    Args:
        task: one of :data:`TASKS`.
        p: the modulus for the ``zp-*`` tasks.
        n: ``k`` for ``zn``, ``sn`` and ``sn-conj``.
    """
    if task not in TASKS:
        raise ValueError(f"task: expected one of {sorted(TASKS)}, received {task!r}")
    if task in NEEDS_P:
        p = _positive(p, "p", task)
        if task in ("zp-mul", "zp-div") and not _is_prime(p):
            raise ValueError(f"p: task {task!r} needs a prime, received {p}")
        x = torch.arange(p)
        if task == "zp-add":
            return (x[:, None] + x) % p
        if task == "zp-sub":
            return (x[:, None] - x) % p
        if task == "zp-sq-sum":
            return (x[:, None] ** 2 + x**2) % p
        u = torch.arange(1, p)
        inverse = torch.tensor([pow(int(v), -1, p) for v in u])
        right = u if task == "zp-mul" else inverse
        return (u[:, None] * right) % p - 1
    if task in ("s3", "s4", "s5"):
        return symmetric(int(task[1])).table.clone()
    if task == "z6":
        return cyclic(6).table.clone()
    if task == "latin5":
        return torch.tensor(LATIN5)
    k = _positive(n, "n", task, minimum=1)
    if task == "zn":
        return cyclic(k).table.clone()
    group = symmetric(k)
    if task == "sn":
        return group.table.clone()
    table = group.table
    inverse = (table == 0).to(torch.long).argmax(dim=1)
    return table[table, inverse[:, None].expand_as(table)]  # (x y) x⁻¹


def check_table(table: object, argument: str = "table") -> Tensor:
    """Validate a table: square, integer symbols in ``0 … n-1``, no missing cell.

    Accepts a tensor, an array or a list of rows; returns a ``[n, n]`` long tensor.

    Raises:
        TypeError: not a list of rows of integers.
        ValueError: not square, a missing cell or a symbol out of range (naming ``argument``,
            the expected and the received).
    """
    if isinstance(table, Tensor):
        if table.is_floating_point() or table.is_complex() or table.dtype == torch.bool:
            raise TypeError(f"{argument}: expected integer symbols, received dtype {table.dtype}")
        t = table.detach().to("cpu", torch.long)
    else:
        if not isinstance(table, list | tuple) or not all(isinstance(r, list | tuple)
                                                          for r in table):
            raise TypeError(f"{argument}: expected a list of rows, received "
                            f"{type(table).__name__}")
        n = len(table)
        for i, row in enumerate(table):
            if len(row) != n:
                raise ValueError(f"{argument}: expected a square table, {n} cells in every row; "
                                 f"received {len(row)} cells in row {i}")
            for j, v in enumerate(row):
                if v is None or v == "":
                    raise ValueError(f"{argument}: expected a symbol in every cell, received a "
                                     f"missing cell at ({i}, {j})")
                if isinstance(v, bool) or not isinstance(v, int):
                    raise TypeError(f"{argument}: expected integer symbols, received {v!r} "
                                    f"({type(v).__name__}) at ({i}, {j})")
        t = torch.tensor(table, dtype=torch.long).reshape(n, n) if n else torch.zeros(0, 0)
    if t.dim() != 2 or t.shape[0] != t.shape[1] or t.shape[0] == 0:
        raise ValueError(f"{argument}: expected a non-empty square [n, n] table, received shape "
                         f"{tuple(t.shape)}")
    n = int(t.shape[0])
    bad = (t < 0) | (t >= n)
    if bool(bad.any()):
        i, j = (int(v) for v in bad.nonzero()[0])
        raise ValueError(f"{argument}: expected symbols in 0..{n - 1}, received {int(t[i, j])} "
                         f"at ({i}, {j})")
    return t.contiguous()


def load_table(path: str | Path) -> Tensor:
    """A table from a file: JSON (a list of rows of symbol indices) or CSV (one row a line).

    The format follows the suffix (``.json`` or ``.csv``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise ValueError(f"path: expected a .json or .csv file, received {str(path)!r}")
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"path: expected a JSON list of rows, received invalid JSON in "
                             f"{str(path)!r} ({exc.msg} at line {exc.lineno})") from exc
        return check_table(rows, argument="path")
    rows = []
    for line in csv.reader(text.splitlines()):
        if not line:
            continue
        row: list[int | None] = []
        for cell in line:
            cell = cell.strip()
            if cell == "":
                row.append(None)
            else:
                try:
                    row.append(int(cell))
                except ValueError as exc:
                    raise TypeError(f"path: expected integer symbols in {str(path)!r}, received "
                                    f"{cell!r} in row {len(rows)}") from exc
        rows.append(row)
    return check_table(rows, argument="path")


def is_latin_square(table: Tensor) -> bool:
    """Every row and every column is a permutation of ``0 … n-1``."""
    n = int(table.shape[0])
    ar = torch.arange(n)
    return bool((table.sort(dim=1).values == ar).all() and
                (table.sort(dim=0).values == ar[:, None]).all())


def split_cells(n: int, train_fraction: float, seed: int) -> Tensor:
    """A ``[n, n]`` bool mask of training cells: ``round(f n²)`` cells drawn at random.

    At least one cell is drawn; a fraction of 1 selects every cell.
    """
    if not 0 < train_fraction <= 1:
        raise ValueError(f"train_fraction: expected a value in (0, 1], received {train_fraction!r}")
    count = max(1, round(train_fraction * n * n))
    perm = torch.randperm(n * n, generator=torch.Generator().manual_seed(seed))
    mask = torch.zeros(n * n, dtype=torch.bool)
    mask[perm[:count]] = True
    return mask.view(n, n)
