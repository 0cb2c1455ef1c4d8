"""The argument checks the benchmark harness shares, built on :mod:`prodint.checks`: names,
parameter dicts, callables, times and repeat counts. Messages follow :mod:`prodint.checks`
(``"<argument>: expected <X>, received <Y>"``)."""

from __future__ import annotations

from typing import Any

from prodint.checks import check_float, check_int

__all__ = ["MAX_REPEATS", "MAX_SECONDS", "check_callable", "check_dict", "check_repeats",
           "check_str", "check_time"]

#: The most repeats (and warm-up calls, and rounds) a timing makes.
MAX_REPEATS = 10**6
#: The longest a timing block may be asked to run, in seconds.
MAX_SECONDS = 3600.0


def check_str(value: object, argument: str) -> str:
    """``value`` if it is a str."""
    if not isinstance(value, str):
        raise TypeError(f"{argument}: expected a str, received {type(value).__name__} "
                        f"{value!r:.60}")
    return value


def check_dict(value: object, argument: str) -> dict[str, Any]:
    """``value`` if it is a dict."""
    if not isinstance(value, dict):
        raise TypeError(f"{argument}: expected a dict, received {type(value).__name__} "
                        f"{value!r:.60}")
    return value


def check_callable(value: object, argument: str, *, optional: bool = False) -> Any:
    """``value`` if it is callable (or ``None`` when ``optional``)."""
    if (value is None and not optional) or (value is not None and not callable(value)):
        wanted = "a callable or None" if optional else "a callable"
        raise TypeError(f"{argument}: expected {wanted}, received {type(value).__name__} "
                        f"{value!r:.60}")
    return value


def check_time(value: object, argument: str, *, optional: bool = False) -> float | None:
    """``value`` as a finite, non-negative number (or ``None`` when ``optional``)."""
    if value is None and optional:
        return None
    return check_float(value, argument, minimum=0.0)


def check_repeats(warmup: object, min_repeats: object, min_seconds: object,
                  max_repeats: object) -> None:
    """The repeat options of a timing: ``warmup`` in ``[0, MAX_REPEATS]``, ``max_repeats``
    in ``[1, MAX_REPEATS]``, ``min_repeats`` in ``[1, max_repeats]``, ``min_seconds`` in
    ``[0, MAX_SECONDS]``."""
    check_int(warmup, "warmup", minimum=0, maximum=MAX_REPEATS)
    check_int(max_repeats, "max_repeats", minimum=1, maximum=MAX_REPEATS)
    check_int(min_repeats, "min_repeats", minimum=1, maximum=max_repeats)  # type: ignore[arg-type]
    check_float(min_seconds, "min_seconds", minimum=0.0, maximum=MAX_SECONDS)
