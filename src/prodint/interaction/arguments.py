"""Argument checks of the expression language, built on :mod:`prodint.checks`.

The validators every node constructor and layer of :mod:`prodint.interaction` shares, with
the message form of :mod:`prodint.checks` (``"argument: expected X, received Y"``): names
(axis, parameter and table names are identifiers), sequences of names, and the ``device`` /
``dtype`` / ``generator`` options of a layer. The expression operand check is
:func:`prodint.interaction.expr.check_expr`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from prodint.checks import _received as received
from prodint.checks import check_memory

__all__ = [
    "check_device",
    "check_dtype",
    "check_generator",
    "check_name",
    "check_names",
    "check_parameter_size",
    "received",
]


def check_name(value: object, argument: str) -> str:
    """``value`` as a name (an identifier: an axis, a parameter, a table).

    Raises:
        TypeError: ``value`` is not a str.
        ValueError: ``value`` is not an identifier.
    """
    if not isinstance(value, str):
        raise TypeError(f"{argument}: expected an identifier (a str), received "
                        f"{received(value)}")
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
    if single and isinstance(value, str):
        value = (value,)
    if isinstance(value, str) or not isinstance(value, Sequence):
        kind = "a name or a sequence of names" if single else "a sequence of names"
        raise TypeError(f"{argument}: expected {kind}, received {received(value)}")
    names = tuple(check_name(v, f"{argument}[{i}]") for i, v in enumerate(value))
    if not empty and not names:
        raise ValueError(f"{argument}: expected at least one name, received none")
    return names


def check_device(value: object, argument: str = "device") -> torch.device | None:
    """``value`` (``None``, a str or a ``torch.device``) as a device this machine has.

    Raises:
        TypeError: another kind (an int ordinal is not accepted: name the device).
        ValueError: an unknown device string, or a device type not available here.
    """
    if value is None:
        return None
    if not isinstance(value, (str, torch.device)):
        raise TypeError(f"{argument}: expected a torch.device, a str or None, received "
                        f"{received(value)}")
    try:
        device = torch.device(value)
    except RuntimeError as error:
        raise ValueError(f"{argument}: expected a device such as 'cpu' or 'cuda:0', received "
                         f"{value!r} ({str(error).splitlines()[0][:80]})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{argument}: expected a device this machine has, received {value!r} "
                         "(CUDA is not available)")
    return device


def check_dtype(value: object, argument: str = "dtype") -> torch.dtype | None:
    """``value`` as a floating ``torch.dtype`` (or ``None``, torch's default).

    Raises:
        TypeError: not a ``torch.dtype``, or not a floating one.
    """
    if value is None:
        return None
    if not isinstance(value, torch.dtype):
        raise TypeError(f"{argument}: expected a floating torch.dtype or None, received "
                        f"{received(value)}")
    if not value.is_floating_point:
        raise TypeError(f"{argument}: expected a floating dtype, received {value}")
    return value


def check_generator(value: object, argument: str = "generator") -> torch.Generator | None:
    """``value`` as a ``torch.Generator`` or ``None``.

    Raises:
        TypeError: another kind.
    """
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(f"{argument}: expected a torch.Generator or None, received "
                        f"{received(value)}")
    return value


def check_parameter_size(sizes: Sequence[int], argument: str, what: str) -> None:
    """Refuse (``ValueError`` naming ``argument``) a tensor of ``sizes`` whose float64 entries
    would not fit in :func:`prodint.checks.memory_limit`."""
    count = 1
    for size in sizes:
        count *= size
    check_memory(8 * count, argument, what)
