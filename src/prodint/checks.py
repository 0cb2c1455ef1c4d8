"""The one way prodint checks the arguments of its public API.

Every public constructor and function of every package checks its arguments with these
validators before any work or large allocation, so that bad input fails at the boundary
with a message of one form,

    ``"<argument>: expected <what is accepted>, received <what was given>"``,

a ``TypeError`` when the kind is wrong (a ``str`` for an int, an integer tensor for a
floating kernel) and a ``ValueError`` when the kind is right but the value is not (``0``
heads, a ``NaN`` learning rate, a shape that does not match). The rules:

- **integers** are ``int`` (or anything with ``__index__``, such as a numpy integer), never
  ``bool``, a tensor, or a float, even an integral one: ``max_steps=2.5`` and ``max_steps=3.0``
  are both refused (:func:`check_int`);
- **real hyper-parameters** are finite unless a bound says otherwise (:func:`check_float`);
  ``NaN`` never passes a bound;
- **tensors** are checked for kind, rank or shape, dtype (each kernel names the dtypes it
  supports) and device (all tensors of one call on one device) by :func:`check_tensor` and
  :func:`check_same_device`; the *values* of input tensors are not checked: NaN and inf pass
  through as they do in torch;
- **sizes**: a function that allocates memory or enumerates a set whose size follows from
  its arguments estimates it first and refuses with the estimate
  (:func:`check_memory`, :func:`check_count`), so that no call starts allocating terabytes.
  The budget is :func:`memory_limit`: half the machine's physical memory, or the number of
  bytes in the environment variable ``PRODINT_MAX_BYTES``.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Collection, Sequence

import torch
from torch import Tensor

__all__ = [
    "FLOATING",
    "check_bool",
    "check_choice",
    "check_count",
    "check_float",
    "check_int",
    "check_memory",
    "check_same_device",
    "check_tensor",
    "format_bytes",
    "memory_limit",
]

#: The floating dtypes a kernel computes in unless it names others.
FLOATING: tuple[torch.dtype, ...] = (torch.float32, torch.float64)


def _received(value: object) -> str:
    """How a message shows a received value: its repr, shortened, with its type for
    non-builtins."""
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)} on {value.device}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, (bool, int, float, str, type(None))):
        return text
    return f"{type(value).__name__} {text}"


def check_int(value: object, argument: str, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]`` (either bound optional).

    Raises:
        TypeError: ``value`` is a bool, a float, a tensor or anything without ``__index__``.
        ValueError: ``value`` is outside the bounds.
    """
    if isinstance(value, (bool, float, Tensor)) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{argument}: expected an int, received {_received(value)}")
    number = operator.index(value)  # type: ignore[arg-type]
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        if maximum is None:
            wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        elif minimum is None:
            wanted = f"an int <= {maximum}"
        else:
            wanted = f"an int in [{minimum}, {maximum}]"
        raise ValueError(f"{argument}: expected {wanted}, received {number}")
    return number


def check_float(value: object, argument: str, *, minimum: float | None = None,
                maximum: float | None = None, strict_minimum: bool = False,
                strict_maximum: bool = False, finite: bool = True) -> float:
    """``value`` (an int or float, not a bool) as a ``float`` within the bounds.

    ``strict_minimum``/``strict_maximum`` exclude the bound itself (``minimum=0,
    strict_minimum=True`` is "positive"). ``finite=False`` admits ``±inf`` (never ``NaN``).

    Raises:
        TypeError: ``value`` is not a real number (a bool, a str, a tensor...).
        ValueError: ``value`` is NaN, infinite (unless ``finite=False``) or out of bounds.
    """
    if isinstance(value, (bool, Tensor)) or \
            (not isinstance(value, (int, float)) and not hasattr(type(value), "__float__")):
        raise TypeError(f"{argument}: expected a real number, received {_received(value)}")
    number = float(value)  # type: ignore[arg-type]
    low = "" if minimum is None else ("> " if strict_minimum else ">= ") + f"{minimum:g}"
    high = "" if maximum is None else ("< " if strict_maximum else "<= ") + f"{maximum:g}"
    wanted = "a finite number" if finite else "a number (not NaN)"
    if low or high:
        wanted += " " + " and ".join(b for b in (low, high) if b)
    bad = math.isnan(number) or (finite and math.isinf(number))
    if minimum is not None:
        bad = bad or number < minimum or (strict_minimum and number == minimum)
    if maximum is not None:
        bad = bad or number > maximum or (strict_maximum and number == maximum)
    if bad:
        raise ValueError(f"{argument}: expected {wanted}, received {number!r}")
    return number


def check_bool(value: object, argument: str) -> bool:
    """``value`` as a ``bool`` (``True``/``False`` only; not ``0``/``1`` or a str)."""
    if not isinstance(value, bool):
        raise TypeError(f"{argument}: expected a bool, received {_received(value)}")
    return value


def check_choice(value: object, argument: str, choices: Collection[object]) -> object:
    """``value`` if it is one of ``choices`` (compared with ``==``; a str is never confused
    with a number)."""
    options = list(choices)
    if not any(type(value) is type(c) and value == c for c in options):
        shown = ", ".join(repr(c) for c in options)
        raise ValueError(f"{argument}: expected one of {shown}, received {_received(value)}")
    return value


def check_tensor(value: object, argument: str, *, rank: int | Sequence[int] | None = None,
                 shape: Sequence[int | None] | None = None, layout: str | None = None,
                 dtypes: Collection[torch.dtype] | None = FLOATING,
                 like: Tensor | None = None) -> Tensor:
    """``value`` as a tensor of the given rank (one rank or several), shape (``None`` for
    a free dim) and dtype, on the device of ``like`` (and of ``like``'s dtype) where given.

    ``layout`` names the dims in messages (``"[B, T, D]"``); ``dtypes=None`` admits every
    dtype. The values are not inspected.

    Raises:
        TypeError: not a tensor, or a dtype outside ``dtypes`` (or other than ``like``'s).
        ValueError: the rank, a dim, or the device is not the expected one.
    """
    shown = f" {layout}" if layout else ""
    if not isinstance(value, Tensor):
        raise TypeError(f"{argument}: expected a torch.Tensor{shown}, received "
                        f"{_received(value)}")
    if shape is not None:
        if value.dim() != len(shape) or any(
                s is not None and s != n for s, n in zip(shape, value.shape, strict=True)):
            want = layout or "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
            raise ValueError(f"{argument}: expected shape {want}, received "
                             f"{tuple(value.shape)}")
    elif rank is not None:
        ranks = (rank,) if isinstance(rank, int) else tuple(rank)
        if value.dim() not in ranks:
            want = " or ".join(str(r) for r in ranks)
            raise ValueError(f"{argument}: expected a tensor of rank {want}{shown}, received "
                             f"shape {tuple(value.shape)}")
    if like is not None:
        if value.dtype != like.dtype:
            raise TypeError(f"{argument}: expected dtype {like.dtype} (that of the other "
                            f"inputs), received {value.dtype}")
        if value.device != like.device:
            raise ValueError(f"{argument}: expected a tensor on {like.device} (that of the "
                             f"other inputs), received one on {value.device}")
    elif dtypes is not None and value.dtype not in dtypes:
        names = ", ".join(str(d).removeprefix("torch.") for d in dtypes)
        raise TypeError(f"{argument}: expected dtype {names}, received {value.dtype}")
    return value


def check_same_device(**tensors: Tensor | None) -> torch.device | None:
    """The one device of the given tensors (``None`` entries skipped), or a ``ValueError``
    naming the first argument on another device."""
    device = None
    first = ""
    for name, t in tensors.items():
        if t is None:
            continue
        if device is None:
            device, first = t.device, name
        elif t.device != device:
            raise ValueError(f"{name}: expected a tensor on {device} (that of {first}), "
                             f"received one on {t.device}")
    return device


def format_bytes(count: float) -> str:
    """``count`` bytes in binary units (``"1.5 GiB"``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(count) < 1024 or unit == "PiB":
            return f"{count:,.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    raise AssertionError("unreachable")


def memory_limit() -> int:
    """The most bytes one prodint allocation may plan: ``PRODINT_MAX_BYTES`` when set (a
    positive int), else half the machine's physical memory."""
    text = os.environ.get("PRODINT_MAX_BYTES")
    if text is not None:
        try:
            limit = int(text)
        except ValueError:
            limit = 0
        if limit < 1:
            raise ValueError(f"PRODINT_MAX_BYTES: expected a positive int (bytes), received "
                             f"{text!r}")
        return limit
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        physical = 8 << 30
    return max(physical // 2, 1 << 30)


def check_memory(nbytes: float, argument: str, what: str, *, limit: int | None = None) -> None:
    """Refuse (``ValueError`` naming ``argument``) before allocating ``nbytes`` for ``what``
    (``"the Cayley table"``) when that is above ``limit`` (default :func:`memory_limit`)."""
    budget = memory_limit() if limit is None else limit
    if nbytes > budget:
        source = "" if limit is not None else (
            " (PRODINT_MAX_BYTES)" if "PRODINT_MAX_BYTES" in os.environ
            else " (half this machine's memory; set PRODINT_MAX_BYTES to change it)")
        raise ValueError(f"{argument}: expected a size whose {what} fits in "
                         f"{format_bytes(budget)}{source}, received one that would need "
                         f"about {format_bytes(nbytes)}")


def check_count(count: float, argument: str, what: str, limit: int) -> None:
    """Refuse (``ValueError`` naming ``argument``) before building ``count`` items of ``what``
    when that is above ``limit``."""
    if count > limit:
        raise ValueError(f"{argument}: expected at most {limit:,} {what}, received "
                         f"arguments that give about {count:,.3g}")
