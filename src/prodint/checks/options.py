"""Validators of names, seeds, callables and instances (:mod:`prodint.checks`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from prodint.checks.scalars import argument_name, check_bool, check_int, describe

__all__ = ["SEED_MAX", "check_callable", "check_instance", "check_name", "check_names",
           "check_seed"]

T = TypeVar("T")

#: The largest seed a ``torch.Generator`` takes.
SEED_MAX = 2**64 - 1


def check_seed(value: object, argument: str = "seed") -> int:
    """``value`` as a seed of a ``torch.Generator``: an int in ``[0, 2**64 - 1]``."""
    return check_int(value, argument, minimum=0, maximum=SEED_MAX)


def check_name(value: object, argument: str) -> str:
    """``value`` as a name (an identifier: an axis, a parameter, a table).

    Raises:
        TypeError: ``value`` is not a str.
        ValueError: ``value`` is not an identifier.
    """
    argument_name(argument)
    if not isinstance(value, str):
        raise TypeError(f"{argument}: expected an identifier (a str), received "
                        f"{describe(value)}")
    if not value.isidentifier():
        raise ValueError(f"{argument}: expected an identifier, received {value!r}")
    return value


def check_names(value: object, argument: str, *, single: bool = False,
                empty: bool = True) -> tuple[str, ...]:
    """``value`` as a tuple of names (a list or tuple of str; one str too when ``single``).

    Raises:
        TypeError: not a sequence of str.
        ValueError: a name that is not an identifier, or none when ``empty`` is false.
    """
    argument_name(argument)
    check_bool(single, "single")
    check_bool(empty, "empty")
    if single and isinstance(value, str):
        value = (value,)
    if isinstance(value, str) or not isinstance(value, Sequence):
        kind = "a name or a sequence of names" if single else "a sequence of names"
        raise TypeError(f"{argument}: expected {kind}, received {describe(value)}")
    names = tuple(check_name(v, f"{argument}[{i}]") for i, v in enumerate(value))
    if not empty and not names:
        raise ValueError(f"{argument}: expected at least one name, received none")
    return names


def check_callable(value: object, argument: str, *, optional: bool = False) -> Any:
    """``value`` if it is callable (or ``None`` when ``optional``)."""
    argument_name(argument)
    check_bool(optional, "optional")
    if (value is None and optional) or callable(value):
        return value
    what = "a callable or None" if optional else "a callable"
    raise TypeError(f"{argument}: expected {what}, received {describe(value)}")


def check_instance(value: object, argument: str, kind: type[T] | tuple[type, ...], *,
                   optional: bool = False, name: str | None = None) -> T:
    """``value`` if it is a ``kind`` (or ``None`` when ``optional``); ``name`` is the kind
    as messages say it (default its class name). A bool is not accepted as an ``int``."""
    argument_name(argument)
    check_bool(optional, "optional")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not kinds or not all(isinstance(k, type) for k in kinds):
        raise TypeError(f"kind: expected a class or a tuple of classes, received "
                        f"{describe(kind)}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name: expected a str or None, received {describe(name)}")
    # a bool is an int to isinstance, never to a caller asking for an int
    is_bool = isinstance(value, bool) and bool not in kinds
    if (value is None and optional) or (isinstance(value, kinds) and not is_bool):
        return value  # type: ignore[return-value]
    if name is None:
        name = " or ".join(k.__name__ for k in kinds)
    what = f"a {name}" + (" or None" if optional else "")
    raise TypeError(f"{argument}: expected {what}, received {describe(value)}")
