"""Validators of scalar arguments: ints, reals, flags and choices (:mod:`prodint.checks`)."""

from __future__ import annotations

import math
import operator
from collections.abc import Collection

from torch import Tensor

__all__ = ["argument_name", "check_bool", "check_choice", "check_float", "check_int",
           "describe"]


def describe(value: object) -> str:
    """How a message shows a received value: its repr (shortened to 60 characters), with
    its type for anything but a builtin scalar; a tensor by dtype, shape and device."""
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)} on {value.device}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, (bool, int, float, str, type(None))):
        return text
    return f"{type(value).__name__} {text}"


def argument_name(argument: object) -> str:
    """The ``argument`` a validator was given to name in its messages: a non-empty str."""
    if not isinstance(argument, str) or not argument:
        raise TypeError(f"argument: expected the argument's name (a non-empty str), received "
                        f"{describe(argument)}")
    return argument


def _bound(value: object, name: str, integer: bool) -> None:
    """A validator's own bound: ``None`` or a number (an int for :func:`check_int`)."""
    if value is None:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or \
            (isinstance(value, float) and math.isnan(value)):
        kind = "an int" if integer else "a number (not NaN)"
        raise TypeError(f"{name}: expected {kind} or None, received {describe(value)}")


def check_int(value: object, argument: str, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]`` (either bound optional).

    Raises:
        TypeError: ``value`` is a bool, a float, a tensor or anything without ``__index__``.
        ValueError: ``value`` is outside the bounds.
    """
    argument_name(argument)
    _bound(minimum, "minimum", True)
    _bound(maximum, "maximum", True)
    if isinstance(value, (bool, float, Tensor)) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{argument}: expected an int, received {describe(value)}")
    number = operator.index(value)  # type: ignore[arg-type]
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        if maximum is None:
            wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        elif minimum is None:
            wanted = f"an int <= {maximum}"
        else:
            wanted = f"an int in [{minimum}, {maximum}]"
        shown = str(number) if abs(number) < 10**20 else f"{number:.3e}"
        raise ValueError(f"{argument}: expected {wanted}, received {shown}")
    return number


def check_float(value: object, argument: str, *, minimum: float | None = None,
                maximum: float | None = None, strict_minimum: bool = False,
                strict_maximum: bool = False, finite: bool = True) -> float:
    """``value`` (an int or float, not a bool) as a ``float`` within the bounds.

    ``strict_minimum``/``strict_maximum`` exclude the bound itself (``minimum=0,
    strict_minimum=True`` is "positive"). ``finite=False`` admits ``±inf`` (never ``NaN``).

    Raises:
        TypeError: ``value`` is not a real number (a bool, a str, a tensor...).
        ValueError: ``value`` is NaN, infinite (unless ``finite=False``) or out of bounds,
            or an int too large for a float.
    """
    argument_name(argument)
    _bound(minimum, "minimum", False)
    _bound(maximum, "maximum", False)
    for name, flag in (("strict_minimum", strict_minimum), ("strict_maximum", strict_maximum),
                       ("finite", finite)):
        check_bool(flag, name)
    if isinstance(value, (bool, Tensor, str, bytes)) or \
            (not isinstance(value, (int, float)) and not hasattr(type(value), "__float__")):
        raise TypeError(f"{argument}: expected a real number, received {describe(value)}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:
        raise ValueError(f"{argument}: expected a finite number, received an int too large "
                         f"for a float") from None
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
    argument_name(argument)
    if not isinstance(value, bool):
        raise TypeError(f"{argument}: expected a bool, received {describe(value)}")
    return value


def check_choice(value: object, argument: str, choices: Collection[object]) -> object:
    """``value`` if it is one of ``choices`` (compared with ``==`` among values of one type,
    so a str is never confused with a number, nor ``True`` with ``1``)."""
    argument_name(argument)
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Collection) or \
            not choices:
        raise TypeError(f"choices: expected a non-empty collection of options, received "
                        f"{describe(choices)}")
    options = list(choices)
    if not any(type(value) is type(c) and value == c for c in options):
        shown = ", ".join(repr(c) for c in options)
        raise ValueError(f"{argument}: expected one of {shown}, received {describe(value)}")
    return value
