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
import math
import os
from pathlib import Path

import torch
from torch import Tensor

from prodint.checks import check_choice, check_float, check_int, check_memory, check_seed
from prodint.groups import cyclic, symmetric

LATIN5 = ((0, 1, 2, 3, 4),
          (1, 0, 3, 4, 2),
          (2, 4, 0, 1, 3),
          (3, 2, 4, 0, 1),
          (4, 3, 1, 2, 0))

#: The operation tables :func:`make_table` builds, by name, with the operation each states.
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
    return p >= 2 and all(p % d for d in range(2, math.isqrt(p) + 1))


def _size(value: object, name: str, task: str, minimum: int) -> int:
    if value is None:
        raise ValueError(f"{name}: task {task!r} needs an int >= {minimum}, received None")
    return check_int(value, name, minimum=minimum)


def _table_bytes(n: float, copies: int = 2) -> float:
    """Bytes of ``copies`` long ``[n, n]`` tables (the table and one intermediate)."""
    return copies * 8.0 * n * n


def _symmetric_order(k: int) -> float:
    """``k!`` as a float (``inf`` beyond the float range)."""
    log = math.lgamma(k + 1)
    return math.exp(log) if log < 700 else math.inf


def make_table(task: str, *, p: int | None = None, n: int | None = None) -> Tensor:
    """The ``[n, n]`` table of a built-in task (see the module docstring).

    The table's size is estimated first: a task whose table would not fit the memory budget
    (:func:`prodint.checks.memory_limit`) is refused before anything is allocated.

    Args:
        task: one of :data:`TASKS`.
        p: the modulus for the ``zp-*`` tasks (an int >= 2; a prime for ``zp-mul`` and
            ``zp-div``); checked as an int when given to another task.
        n: ``k`` for ``zn``, ``sn`` and ``sn-conj`` (an int >= 1); checked as an int when
            given to another task.

    Raises:
        TypeError: ``p`` or ``n`` is not an int.
        ValueError: an unknown task, a missing or out-of-range ``p``/``n``, a ``p`` that is
            not prime where one is needed, or a table too large for the memory budget.
    """
    check_choice(task, "task", TASKS)
    if p is not None:
        check_int(p, "p")
    if n is not None:
        check_int(n, "n")
    if task in NEEDS_P:
        p = _size(p, "p", task, 2)
        check_memory(_table_bytes(p), "p", f"{task} table ({p} x {p} symbols)")
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
    k = _size(n, "n", task, 1)
    if task == "zn":
        check_memory(_table_bytes(k), "n", f"zn table ({k} x {k} symbols)")
        return cyclic(k).table.clone()
    order = _symmetric_order(k)
    check_memory(_table_bytes(order, copies=3), "n", f"{task} table (k! = {order:.3g} symbols)")
    group = symmetric(k)
    if task == "sn":
        return group.table.clone()
    table = group.table
    inverse = (table == 0).to(torch.long).argmax(dim=1)
    return table[table, inverse[:, None].expand_as(table)]  # (x y) x⁻¹


def check_table(table: object, argument: str = "table") -> Tensor:
    """Validate a table: square, integer symbols in ``0 … n-1``, no missing cell.

    Accepts a tensor, an array or a list of rows; returns a ``[n, n]`` long tensor on the CPU.

    Raises:
        TypeError: ``argument`` is not a str; ``table`` is not a tensor of integers or a list
            of rows of integers.
        ValueError: not square, a missing cell or a symbol out of range (naming ``argument``,
            the expected and the received).
    """
    if not isinstance(argument, str):
        raise TypeError(f"argument: expected a str (the name for messages), received "
                        f"{type(argument).__name__} {argument!r:.60}")
    if isinstance(table, Tensor):
        if table.is_floating_point() or table.is_complex() or table.dtype == torch.bool:
            raise TypeError(f"{argument}: expected integer symbols, received dtype {table.dtype}")
        if table.device.type == "meta":
            raise ValueError(f"{argument}: expected a tensor that holds data, received one on "
                             f"meta")
        t = table.detach().to("cpu", torch.long)
    else:
        t = _rows_to_tensor(table, argument)
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


def _rows_to_tensor(table: object, argument: str) -> Tensor:
    """A list of rows of symbols as a long tensor, every cell checked first."""
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
            if not 0 <= v < n:
                raise ValueError(f"{argument}: expected symbols in 0..{n - 1}, received {v} "
                                 f"at ({i}, {j})")
    return torch.tensor(table, dtype=torch.long).reshape(n, n) if n else torch.zeros(0, 0)


#: Bytes of Python objects per byte of a table file (a small int, its list slot and the
#: tensor copy), for the memory estimate of :func:`load_table`.
_OBJECT_BYTES_PER_FILE_BYTE = 50


def load_table(path: str | os.PathLike[str]) -> Tensor:
    """A table from a file: JSON (a list of rows of symbol indices) or CSV (one row a line).

    The format follows the suffix (``.json`` or ``.csv``).

    Raises:
        TypeError: ``path`` is not a str or path; non-integer symbols.
        ValueError: another suffix, a file that is not UTF-8 text, invalid JSON, a file too
            large for the memory budget, or a table :func:`check_table` refuses.
        OSError: the file cannot be read.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path: expected a str or os.PathLike, received "
                        f"{type(path).__name__} {path!r:.60}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise ValueError(f"path: expected a .json or .csv file, received {str(path)!r}")
    check_memory(float(path.stat().st_size) * _OBJECT_BYTES_PER_FILE_BYTE, "path",
                 "table, read into Python lists,")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"path: expected UTF-8 text in {str(path)!r}, received bytes that "
                         f"are not ({exc.reason} at byte {exc.start})") from exc
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


def is_group_table(table: Tensor) -> bool:
    """The table of a group: a Latin square (a quasigroup) whose operation is associative,
    ``(a∘b)∘c = a∘(b∘c)``, checked over all ``n³`` triples in blocks of rows ``a``."""
    if not is_latin_square(table):
        return False
    n = int(table.shape[0])
    rows = max(1, (1 << 23) // (n * n))  # two [rows, n, n] long blocks of at most 64 MiB
    for lo in range(0, n, rows):
        block = table[lo:lo + rows]  # [k, n]: a∘b for a in the block
        if not torch.equal(table[block], block[:, table]):  # (a∘b)∘c against a∘(b∘c)
            return False
    return True


def split_cells(n: int, train_fraction: float, seed: int) -> Tensor:
    """A ``[n, n]`` bool mask of training cells: ``round(f n²)`` cells drawn at random.

    At least one cell is drawn; a fraction of 1 selects every cell.

    Raises:
        TypeError: ``n`` or ``seed`` is not an int, ``train_fraction`` not a real number.
        ValueError: ``n < 1``, ``train_fraction`` outside ``(0, 1]``, ``seed`` outside
            ``[0, 2**64 - 1]``, or a mask too large for the memory budget.
    """
    check_int(n, "n", minimum=1)
    check_float(train_fraction, "train_fraction", minimum=0, strict_minimum=True, maximum=1)
    check_seed(seed)
    check_memory(9.0 * n * n, "n", f"mask of {n} x {n} cells (and its permutation)")
    count = max(1, round(train_fraction * n * n))
    perm = torch.randperm(n * n, generator=torch.Generator().manual_seed(seed))
    mask = torch.zeros(n * n, dtype=torch.bool)
    mask[perm[:count]] = True
    return mask.view(n, n)
