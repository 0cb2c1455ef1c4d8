"""Argument checks of HyperCube's public functions, built on :mod:`prodint.checks`.

The package's own checks (a table's cell mask, the factors' memory, tensors of one kind);
the generic ones (seeds, devices, callables, instances) are in :mod:`prodint.checks`.
Messages follow :mod:`prodint.checks`: ``"<argument>: expected <X>, received <Y>"``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prodint.checks import check_memory, check_tensor


def check_mask(value: object, n: int, argument: str = "mask") -> Tensor:
    """``value`` as a ``[n, n]`` bool mask of cells with at least one ``True`` cell."""
    mask = check_tensor(value, argument, shape=(n, n), layout=f"[{n}, {n}]",
                        dtypes=(torch.bool,))
    if mask.device.type == "meta":
        raise ValueError(f"{argument}: expected a tensor that holds data, received one on meta")
    if not bool(mask.any()):
        raise ValueError(f"{argument}: expected at least one True cell, received none")
    return mask


def check_factors_memory(n: int, itemsize: int, argument: str, copies: int = 13) -> None:
    """Refuse a problem of ``n`` symbols whose ``copies`` stacks of ``[n, n, n]`` do not fit
    the memory budget (training holds 13: the target, three factors, their momenta, their
    gradients and those of ``H``)."""
    check_memory(float(copies) * n**3 * itemsize, argument, "set of factor stacks")


def check_same_kind(value: Tensor, argument: str, first: Tensor, first_name: str) -> Tensor:
    """``value`` of the dtype, device and shape of ``first`` (the message names both)."""
    if value.dtype != first.dtype:
        raise TypeError(f"{argument}: expected dtype {first.dtype} (that of {first_name}), "
                        f"received {value.dtype}")
    if value.device != first.device:
        raise ValueError(f"{argument}: expected a tensor on {first.device} (that of "
                         f"{first_name}), received one on {value.device}")
    if value.shape != first.shape:
        raise ValueError(f"{argument}: expected shape {tuple(first.shape)} (that of "
                         f"{first_name}), received {tuple(value.shape)}")
    return value

