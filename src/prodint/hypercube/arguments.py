"""Argument checks of HyperCube's public functions, built on :mod:`prodint.checks`.

The generic ones :mod:`prodint.checks` does not have (a seed, a device, a callable, an
instance of a class) and the package's own (a table's cell mask, the factors' size).
Messages follow :mod:`prodint.checks`: ``"<argument>: expected <X>, received <Y>"``.
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch
from torch import Tensor

from prodint.checks import check_int, check_memory, check_tensor

T = TypeVar("T")

#: The seeds a ``torch.Generator`` takes.
SEED_MAX = 2**64 - 1


def check_seed(value: object, argument: str = "seed") -> int:
    """``value`` as a seed of a ``torch.Generator``: an int in ``[0, 2**64 - 1]``."""
    return check_int(value, argument, minimum=0, maximum=SEED_MAX)


def check_device(value: object, argument: str = "device") -> torch.device:
    """``value`` (a str or ``torch.device``) as a device that holds data and is present.

    Raises:
        TypeError: not a str or a ``torch.device``.
        ValueError: not a device name, the meta device, or a device this machine lacks.
    """
    if not isinstance(value, str | torch.device):
        raise TypeError(f"{argument}: expected a device name (str) or a torch.device, "
                        f"received {type(value).__name__} {value!r}")
    try:
        device = torch.device(value)
        if device.type == "meta":
            raise ValueError("the meta device holds no data")
        torch.empty(0, device=device)
    except (RuntimeError, ValueError, AssertionError) as error:
        raise ValueError(f"{argument}: expected an available device, received {value!r} "
                         f"({str(error).strip().splitlines()[0][:120]})") from None
    return device


def check_callable(value: object, argument: str, *, optional: bool = True) -> Any:
    """``value`` if it is callable (or ``None`` when ``optional``)."""
    if (value is None and optional) or callable(value):
        return value
    what = "a callable or None" if optional else "a callable"
    raise TypeError(f"{argument}: expected {what}, received {type(value).__name__} {value!r:.60}")


def check_instance(value: object, argument: str, kind: type[T], *, optional: bool = False,
                   name: str | None = None) -> T | None:
    """``value`` if it is a ``kind`` (or ``None`` when ``optional``); ``name`` is the kind
    as messages say it (default its class name)."""
    if (value is None and optional) or isinstance(value, kind):
        return value  # type: ignore[return-value]
    what = f"a {name or kind.__name__}" + (" or None" if optional else "")
    raise TypeError(f"{argument}: expected {what}, received {type(value).__name__} {value!r:.60}")


def check_floating_dtype(value: object, argument: str = "dtype",
                         dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float64),
                         ) -> torch.dtype:
    """``value`` if it is one of the floating ``dtypes``."""
    if not isinstance(value, torch.dtype) or value not in dtypes:
        names = ", ".join(str(d) for d in dtypes)
        raise TypeError(f"{argument}: expected one of {names}, received {value!r}")
    return value


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

