"""The field check every row of a survey shares, built on :mod:`prodint.checks`.

A row (a frozen dataclass) checks its fields on construction by kind: free text, counts
(ints ``>= 0``), measurements (numbers; ``inf`` is a measurement, ``NaN`` is not: a row
records a failed measurement otherwise) and flags (bools). Messages follow
:mod:`prodint.checks`. (A helper of the survey modules, not a survey: it exports nothing.)
"""

from __future__ import annotations

from collections.abc import Collection

from prodint.checks import check_bool, check_float, check_int


def check_fields(row: object, *, texts: Collection[str] = (), counts: Collection[str] = (),
                 numbers: Collection[str] = (), flags: Collection[str] = ()) -> None:
    """Check the named fields of ``row`` by kind (see the module doc).

    Raises:
        TypeError: a field of another kind (a str for a count, ``2.5`` for a count, an int
            for a flag).
        ValueError: a negative count, a NaN measurement.
    """
    for name in texts:
        value = getattr(row, name)
        if not isinstance(value, str):
            raise TypeError(f"{name}: expected a str, received {type(value).__name__} "
                            f"{value!r:.60}")
    for name in counts:
        check_int(getattr(row, name), name, minimum=0)
    for name in numbers:
        check_float(getattr(row, name), name, finite=False)
    for name in flags:
        check_bool(getattr(row, name), name)
