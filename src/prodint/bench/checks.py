"""The argument checks the benchmark harness adds to :mod:`prodint.checks`: times and
repeat counts. Messages follow :mod:`prodint.checks`
(``"<argument>: expected <X>, received <Y>"``)."""

from __future__ import annotations

from prodint.checks import check_float, check_int

__all__ = ["MAX_REPEATS", "MAX_SECONDS", "check_repeats", "check_time"]

#: The most repeats (and warm-up calls, and rounds) a timing makes.
MAX_REPEATS = 10**6
#: The longest a timing block may be asked to run, in seconds.
MAX_SECONDS = 3600.0





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
