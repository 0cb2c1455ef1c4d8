"""Argument checks of the convolutions of the zoo, built on :mod:`prodint.checks`.

The per-axis options of an ``n``-d convolution (:func:`ints_per_axis`) and channel counts
that the groups divide (:func:`check_channels`). The checks every layer shares (options,
parameter memory, inputs against the parameters, a convolution's output grid) are in
:mod:`prodint.checks`.
"""

from __future__ import annotations

from collections.abc import Sequence

from prodint.checks import check_int

__all__ = ["check_channels", "ints_per_axis"]


def ints_per_axis(value: object, n: int, argument: str, *, minimum: int = 0
                  ) -> tuple[int, ...]:
    """``value`` as ``n`` ints ``≥ minimum`` (one int is repeated): the per-axis options of
    an ``n``-d convolution (kernel size, stride, …).

    Raises:
        TypeError: not an int or a sequence of ints (a float, a bool, ``None``).
        ValueError: a sequence of another length, or an entry below ``minimum``.
    """
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(f"{argument}: expected an int or {n} ints, received {value!r}")
        return tuple(check_int(v, argument, minimum=minimum) for v in value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{argument}: expected an int or {n} ints, received "
                        f"{type(value).__name__} {value!r}")
    return (check_int(value, argument, minimum=minimum),) * n


def check_channels(in_channels: object, out_channels: object, groups: object
                   ) -> tuple[int, int, int]:
    """Positive channel counts that ``groups`` divides, or an error naming the culprit."""
    cin = check_int(in_channels, "in_channels", minimum=1)
    cout = check_int(out_channels, "out_channels", minimum=1)
    g = check_int(groups, "groups", minimum=1)
    if cin % g or cout % g:
        raise ValueError(f"groups: expected a divisor of in_channels={cin} and "
                         f"out_channels={cout}, received {g}")
    return cin, cout, g




