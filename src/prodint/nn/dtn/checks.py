"""Argument checks shared by the Deep Tensor Network layers (clear errors before any work)."""

from __future__ import annotations

import math


def check_positive(**values: object) -> None:
    """Raise unless every value is a positive int (not a bool)."""
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: expected a positive int, received {value!r}")


def check_heads(width: int, heads: int, **others: object) -> int:
    """``width``, ``heads`` (and ``others``) positive ints with ``heads`` dividing ``width``;
    returns the head width ``width // heads``."""
    check_positive(width=width, heads=heads, **others)
    if width % heads:
        raise ValueError(f"heads: expected a divisor of width={width}, received {heads}")
    return width // heads


def check_bool(**values: object) -> None:
    """Raise unless every value is a bool."""
    for name, value in values.items():
        if not isinstance(value, bool):
            raise TypeError(f"{name}: expected a bool, received {type(value).__name__}")


def check_decay(decay: object, causal: bool) -> float | None:
    """``decay`` as a float in ``(0, 1]`` (or ``None``); a decay needs a causal layer."""
    check_bool(causal=causal)
    if decay is None:
        return None
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or \
            not math.isfinite(decay) or not 0 < decay <= 1:
        raise ValueError(f"decay: expected a number in (0, 1] or None, received {decay!r}")
    if not causal:
        raise ValueError(f"decay: expected None for a non-causal layer (it has no order in "
                         f"time), received {decay!r}")
    return float(decay)
