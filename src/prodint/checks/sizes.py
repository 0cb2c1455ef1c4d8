"""Memory and count budgets: refuse before allocating (:mod:`prodint.checks`)."""

from __future__ import annotations

import math
import os

from prodint.checks.scalars import argument_name, check_int, describe

__all__ = ["check_count", "check_memory", "format_bytes", "memory_limit"]


def _estimate(value: object, name: str) -> float:
    """A size estimate: a non-negative number, NaN refused (it would pass every bound)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number, received {describe(value)}")
    number = float(value) if not isinstance(value, int) or value < 2**1000 else math.inf
    if math.isnan(number) or number < 0:
        raise ValueError(f"{name}: expected a non-negative number, received {value!r}")
    return number


def format_bytes(count: float) -> str:
    """``count`` bytes in binary units (``"1.5 GiB"``; ``"inf"`` beyond any unit)."""
    number = _estimate(count, "count")
    if math.isinf(number):
        return "an unbounded amount"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if number < 1024 or unit == "PiB":
            return f"{number:,.1f} {unit}" if unit != "B" else f"{int(number)} B"
        number /= 1024
    raise AssertionError("unreachable")


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


#: The machine's physical memory, read once (so that the checks also run inside
#: ``torch.compile``d code, which cannot call ``os.sysconf``).
PHYSICAL_MEMORY = _physical_memory()


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
    return max(PHYSICAL_MEMORY // 2, 1 << 30)


def check_memory(nbytes: float, argument: str, what: str, *, limit: int | None = None) -> None:
    """Refuse (``ValueError`` naming ``argument``) before allocating ``nbytes`` for ``what``
    (``"the Cayley table"``) when that is above ``limit`` (default :func:`memory_limit`)."""
    argument_name(argument)
    if not isinstance(what, str):
        raise TypeError(f"what: expected a str, received {describe(what)}")
    needed = _estimate(nbytes, "nbytes")
    budget = memory_limit() if limit is None else check_int(limit, "limit", minimum=1)
    if needed > budget:
        source = "" if limit is not None else (
            " (PRODINT_MAX_BYTES)" if "PRODINT_MAX_BYTES" in os.environ
            else " (half this machine's memory; set PRODINT_MAX_BYTES to change it)")
        raise ValueError(f"{argument}: expected a size for which {what} fits in "
                         f"{format_bytes(budget)}{source}, received one that would need "
                         f"about {format_bytes(needed)}")


def check_count(count: float, argument: str, what: str, limit: int) -> None:
    """Refuse (``ValueError`` naming ``argument``) before building ``count`` items of ``what``
    when that is above ``limit``."""
    argument_name(argument)
    if not isinstance(what, str):
        raise TypeError(f"what: expected a str, received {describe(what)}")
    needed = _estimate(count, "count")
    budget = check_int(limit, "limit", minimum=0)
    if needed > budget:
        shown = "unboundedly many" if math.isinf(needed) else f"about {needed:,.3g}"
        raise ValueError(f"{argument}: expected at most {budget:,} {what}, received "
                         f"arguments that give {shown}")
