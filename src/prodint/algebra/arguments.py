"""The argument checks specific to algebras, built on :mod:`prodint.checks`.

Labels (a str or ``None``), basis names (one str per basis element), the memory an algebra of
a given size needs before its triples are built and a product's workspace, tensors with data,
and the two operands of a product (a ``[..., n]`` tensor each, in the
algebra's dtype and on its device, with leading dimensions that broadcast).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.checks import check_memory, check_same_device, describe
from prodint.checks.scalars import argument_name

#: Bytes one structure constant takes while an algebra is built: the ``[nnz, 3]`` long triples
#: and the value, their sorted copies and permutations, the merged output (a bound on the peak).
BYTES_PER_TRIPLE = 192
#: Bytes one basis element takes: its name (a short Python str) and its list slot.
BYTES_PER_BASIS_ELEMENT = 80
#: Workspaces below this many bytes are not checked against the memory budget: the check reads
#: the machine's memory, which compiled (``torch.compile``) code cannot trace, and such buffers
#: always fit.
UNCHECKED_BYTES = 64 << 20
#: The floating dtypes an algebra holds its structure constants in.
ALGEBRA_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_label(value: object, argument: str) -> str | None:
    """``value`` if it is a str or ``None`` (free text shown in reports, such as ``"R[z]/z^3"``:
    not an identifier), else a ``TypeError``."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{argument}: expected a str or None, received {describe(value)}")
    return value


def check_basis_names(value: object, dim: int, argument: str = "basis_names") -> list[str]:
    """``value`` as a list of ``dim`` str (a ``TypeError`` for a str or a non-sequence, a
    ``ValueError`` naming ``dim`` for another length)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{argument}: expected a sequence of {dim} str, received "
                        f"{describe(value)}")
    if len(value) != dim:
        raise ValueError(f"{argument}: expected dim = {dim} names, received {len(value)}")
    for name in value:
        if not isinstance(name, str):
            raise TypeError(f"{argument}: expected a sequence of str, received an element "
                            f"{describe(name)}")
    return list(value)


def check_structure_size(nnz: int, dim: int, argument: str) -> None:
    """Refuse (``ValueError`` naming ``argument``, with the estimate) an algebra with ``nnz``
    structure constants and ``dim`` basis names whose construction would not fit in
    :func:`prodint.checks.memory_limit`."""
    nbytes = nnz * BYTES_PER_TRIPLE + dim * BYTES_PER_BASIS_ELEMENT
    check_memory(nbytes, argument, f"algebra ({nnz:,} structure constants, dimension "
                                   f"{dim:,})")


def check_workspace(nbytes: int, argument: str, what: str) -> None:
    """:func:`prodint.checks.check_memory` for a workspace above :data:`UNCHECKED_BYTES`."""
    if nbytes > UNCHECKED_BYTES:
        check_memory(nbytes, argument, what)


def check_data(value: Tensor, argument: str) -> Tensor:
    """``value`` unless it is on the meta device (a tensor without data, whose values a
    constructor needs)."""
    if value.device.type == "meta":
        raise ValueError(f"{argument}: expected a tensor with data, received one on meta")
    return value


def check_real_dtype(value: Tensor, argument: str) -> Tensor:
    """``value`` unless its dtype is neither an integer one (converted by the caller) nor one
    of :data:`ALGEBRA_DTYPES` (complex, bool, float8...)."""
    dtype = value.dtype
    if dtype == torch.bool or dtype.is_complex or \
            (dtype.is_floating_point and dtype not in ALGEBRA_DTYPES):
        names = ", ".join(str(d).removeprefix("torch.") for d in ALGEBRA_DTYPES)
        raise TypeError(f"{argument}: expected a real tensor of dtype {names} or an integer "
                        f"dtype, received {dtype}")
    return value


def check_element(x: object, argument: str, *, dim: int, name: str, dtype: torch.dtype,
                  device: torch.device) -> Tensor:
    """``x`` if it is a ``[..., dim]`` tensor of ``dtype`` on ``device`` (the algebra's)."""
    argument_name(argument)
    if not isinstance(x, Tensor):
        raise TypeError(f"{argument}: expected a torch.Tensor, received {describe(x)}")
    if x.dim() == 0 or x.shape[-1] != dim:
        raise ValueError(
            f"{argument}: expected a tensor whose last dimension is the algebra dimension "
            f"{dim} ({name}), received shape {tuple(x.shape)}"
        )
    if x.dtype != dtype:
        raise TypeError(
            f"{argument}: expected dtype {dtype} (the algebra's), received {x.dtype}; "
            f"cast the input or call algebra.to({x.dtype})"
        )
    if x.device != device:
        raise ValueError(f"{argument}: expected a tensor on {device} (the algebra's), "
                         f"received one on {x.device}")
    return x


def broadcast_batch(x: Tensor, y: Tensor) -> torch.Size:
    """The broadcast leading shape of two operands ``[..., n]`` (on one device), or a
    ``ValueError`` naming both."""
    check_same_device(x=x, y=y)
    try:
        return torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    except RuntimeError:
        raise ValueError(f"y: expected leading dimensions that broadcast with those of x, "
                         f"received x of shape {tuple(x.shape)} and y of shape "
                         f"{tuple(y.shape)}") from None
