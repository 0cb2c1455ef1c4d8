"""Validators of tensor arguments and of the ``device``/``dtype``/``generator`` options
(:mod:`prodint.checks`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import torch
from torch import Tensor

from prodint.checks.scalars import argument_name, check_bool, describe

__all__ = ["FLOATING", "check_device", "check_dtype", "check_generator", "check_same_device",
           "check_tensor"]

#: The floating dtypes a kernel computes in unless it names others.
FLOATING: tuple[torch.dtype, ...] = (torch.float32, torch.float64)


def _dtype_names(dtypes: Collection[torch.dtype]) -> str:
    return ", ".join(str(d).removeprefix("torch.") for d in dtypes)


def _check_dtypes(dtypes: object) -> None:
    if dtypes is None:
        return
    if isinstance(dtypes, (str, bytes)) or not isinstance(dtypes, Collection) or \
            not dtypes or not all(isinstance(d, torch.dtype) for d in dtypes):
        raise TypeError(f"dtypes: expected a non-empty collection of torch.dtype or None, "
                        f"received {describe(dtypes)}")


def _check_rank(rank: object) -> tuple[int, ...] | None:
    if rank is None:
        return None
    ranks = (rank,) if isinstance(rank, int) and not isinstance(rank, bool) else rank
    if not isinstance(ranks, (tuple, list)) or not ranks or not all(
            isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in ranks):
        raise TypeError(f"rank: expected a non-negative int or a sequence of them, received "
                        f"{describe(rank)}")
    return tuple(ranks)


def _check_shape(shape: object) -> tuple[int | None, ...] | None:
    if shape is None:
        return None
    if not isinstance(shape, (tuple, list, torch.Size)) or not all(
            s is None or (isinstance(s, int) and not isinstance(s, bool) and s >= 0)
            for s in shape):
        raise TypeError(f"shape: expected a sequence of non-negative ints or None, received "
                        f"{describe(shape)}")
    return tuple(shape)


def check_tensor(value: object, argument: str, *, rank: int | Sequence[int] | None = None,
                 shape: Sequence[int | None] | None = None, layout: str | None = None,
                 dtypes: Collection[torch.dtype] | None = FLOATING,
                 like: Tensor | None = None, like_name: str | None = None) -> Tensor:
    """``value`` as a tensor of the given rank (one rank or several), shape (``None`` for
    a free dim) and dtype, of ``like``'s dtype and on its device where ``like`` is given.

    ``layout`` names the dims in messages (``"[B, T, D]"``); ``dtypes=None`` admits every
    dtype; ``like_name`` names ``like`` in messages (default "the other inputs"). The values
    are not inspected.

    Raises:
        TypeError: not a tensor, or a dtype outside ``dtypes`` (or other than ``like``'s).
        ValueError: the rank, a dim, or the device is not the expected one.
    """
    argument_name(argument)
    ranks, dims = _check_rank(rank), _check_shape(shape)
    _check_dtypes(dtypes)
    if layout is not None and not isinstance(layout, str):
        raise TypeError(f"layout: expected a str or None, received {describe(layout)}")
    if like is not None and not isinstance(like, Tensor):
        raise TypeError(f"like: expected a torch.Tensor or None, received {describe(like)}")
    shown = f" {layout}" if layout else ""
    if not isinstance(value, Tensor):
        raise TypeError(f"{argument}: expected a torch.Tensor{shown}, received "
                        f"{describe(value)}")
    if dims is not None:
        if value.dim() != len(dims) or any(
                s is not None and s != n for s, n in zip(dims, value.shape, strict=True)):
            want = layout or "[" + ", ".join("*" if s is None else str(s) for s in dims) + "]"
            raise ValueError(f"{argument}: expected shape {want}, received "
                             f"{tuple(value.shape)}")
    elif ranks is not None and value.dim() not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ValueError(f"{argument}: expected a tensor of rank {want}{shown}, received "
                         f"shape {tuple(value.shape)}")
    if like is not None:
        other = f"that of {like_name}" if like_name else "that of the other inputs"
        if value.dtype != like.dtype:
            raise TypeError(f"{argument}: expected dtype {like.dtype} ({other}), received "
                            f"{value.dtype}")
        if value.device != like.device:
            raise ValueError(f"{argument}: expected a tensor on {like.device} ({other}), "
                             f"received one on {value.device}")
    elif dtypes is not None and value.dtype not in dtypes:
        raise TypeError(f"{argument}: expected dtype {_dtype_names(dtypes)}, received "
                        f"{value.dtype}")
    return value


def check_same_device(**tensors: Tensor | None) -> torch.device | None:
    """The one device of the given tensors (``None`` entries skipped), or a ``ValueError``
    naming the first argument on another device (a ``TypeError`` for a non-tensor)."""
    device = None
    first = ""
    for name, t in tensors.items():
        if t is None:
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, received {describe(t)}")
        if device is None:
            device, first = t.device, name
        elif t.device != device:
            raise ValueError(f"{name}: expected a tensor on {device} (that of {first}), "
                             f"received one on {t.device}")
    return device


def check_device(value: object, argument: str = "device", *,
                 optional: bool = True) -> torch.device | None:
    """``value`` (a str or a ``torch.device``; ``None`` when ``optional``) as a device that
    holds data and that this machine has.

    Raises:
        TypeError: another kind (an int ordinal is not accepted: name the device).
        ValueError: not a device name, the meta device, or a device this machine lacks.
    """
    argument_name(argument)
    check_bool(optional, "optional")
    if value is None and optional:
        return None
    if not isinstance(value, (str, torch.device)):
        what = "a torch.device, a str or None" if optional else "a torch.device or a str"
        raise TypeError(f"{argument}: expected {what}, received {describe(value)}")
    try:
        device = torch.device(value)
    except RuntimeError as error:
        raise ValueError(f"{argument}: expected a device such as 'cpu' or 'cuda:0', received "
                         f"{value!r} ({str(error).strip().splitlines()[0][:80]})") from None
    if device.type == "meta":
        raise ValueError(f"{argument}: expected a device that holds data, received 'meta'")
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        raise ValueError(f"{argument}: expected a device this machine has, received {value!r} "
                         f"({str(error).strip().splitlines()[0][:80]})") from None
    return device


def check_dtype(value: object, argument: str = "dtype", *,
                dtypes: Collection[torch.dtype] | None = None,
                optional: bool = True) -> torch.dtype | None:
    """``value`` as a floating ``torch.dtype`` (one of ``dtypes`` when given; ``None`` when
    ``optional``, meaning torch's default).

    Raises:
        TypeError: not a ``torch.dtype``, not a floating one, or not one of ``dtypes``.
    """
    argument_name(argument)
    _check_dtypes(dtypes)
    check_bool(optional, "optional")
    if value is None and optional:
        return None
    if not isinstance(value, torch.dtype) or not value.is_floating_point or \
            (dtypes is not None and value not in dtypes):
        wanted = _dtype_names(dtypes) if dtypes is not None else "a floating torch.dtype"
        raise TypeError(f"{argument}: expected {wanted}{' or None' if optional else ''}, "
                        f"received {describe(value)}")
    return value


def check_generator(value: object, argument: str = "generator") -> torch.Generator | None:
    """``value`` as a ``torch.Generator`` or ``None``."""
    argument_name(argument)
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(f"{argument}: expected a torch.Generator or None, received "
                        f"{describe(value)}")
    return value
