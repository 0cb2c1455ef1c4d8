"""The argument checks that the modules of :mod:`prodint.groups` share, built on
:mod:`prodint.checks`.

Names, tolerances, memory budgets, axis sizes, and the real matrices that define a
representation or a Lie algebra: each is checked the same way in every function that takes it,
with messages of the form ``"<argument>: expected <what>, received <what was given>"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from prodint.checks import check_float, check_int, check_memory

__all__ = [
    "RTOL_RANGE",
    "check_argument_name",
    "check_budget",
    "check_kind",
    "check_max_bytes",
    "check_name",
    "check_names",
    "check_rtol",
    "check_sizes",
    "power_estimate",
    "real_matrices",
]

#: The singular-value cutoffs the SVD solver accepts. Below ``1e-14`` the round-off of the
#: SVD itself (about ``1e-15`` relative) would count as rank and drop genuine equivariant maps;
#: above ``1e-4`` genuine small singular values (``|e^{2πi/n} - 1| ≈ 2π/n`` for a cyclic
#: group of order ``n``) would count as zero and add maps that are not equivariant.
RTOL_RANGE = (1e-14, 1e-4)

# Estimates are clamped here before they are printed (a float cannot hold 8^(10^30)).
_LARGEST_ESTIMATE = 1e300


def check_kind(value: object, argument: str, kinds: type | tuple[type, ...], what: str) -> None:
    """Refuse (``TypeError``) a ``value`` that is not an instance of ``kinds``; ``what``
    describes them (``"a finite Group"``)."""
    if not isinstance(value, kinds):
        raise TypeError(f"{argument}: expected {what}, received {type(value).__name__} "
                        f"{_short(value)}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_name(value: object, argument: str = "name") -> str | None:
    """A free-text label: a ``str`` or ``None`` (``TypeError`` otherwise)."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{argument}: expected a str or None, received {type(value).__name__} "
                        f"{_short(value)}")
    return value


def check_argument_name(value: object) -> str:
    """The ``argument`` option of the functions that name their argument in messages."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"argument: expected a non-empty str (the name used in messages), "
                        f"received {type(value).__name__} {_short(value)}")
    return value


def check_names(value: object, count: int, argument: str = "names") -> list[str] | None:
    """``None`` or a sequence of ``count`` strs (not a str itself), as a list."""
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{argument}: expected a sequence of {count} strs or None, received "
                        f"{type(value).__name__} {_short(value)}")
    names = list(value)
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"{argument}[{i}]: expected a str, received "
                            f"{type(name).__name__} {_short(name)}")
    if len(names) != count:
        raise ValueError(f"{argument}: expected {count} names, received {len(names)}")
    return names


def check_rtol(value: object) -> float:
    """The relative singular-value cutoff ``rtol``, a finite number in :data:`RTOL_RANGE`."""
    low, high = RTOL_RANGE
    return check_float(value, "rtol", minimum=low, maximum=high)


def check_max_bytes(value: object) -> int:
    """The ``max_bytes`` option: a positive int."""
    return check_int(value, "max_bytes", minimum=1)


def check_budget(nbytes: float, argument: str, what: str, max_bytes: int | None = None) -> None:
    """Refuse (``ValueError`` naming ``argument``, with the estimate) to plan ``nbytes`` for
    ``what`` above the machine's budget (:func:`prodint.checks.memory_limit`) or above the
    caller's ``max_bytes``."""
    estimate = min(float(nbytes), _LARGEST_ESTIMATE)
    check_memory(estimate, argument, what)
    if max_bytes is not None:
        check_memory(estimate, argument, f"{what} (max_bytes)", limit=max_bytes)


def power_estimate(base: int, exponent: int, factor: int = 1) -> float:
    """``factor · base^exponent`` as a float, :data:`_LARGEST_ESTIMATE` where it overflows,
    without forming the big integer."""
    if base <= 1 or exponent == 0:
        return float(factor * (base**exponent if base >= 0 else 1))
    if exponent * math.log10(base) + math.log10(max(factor, 1)) > 299:
        return _LARGEST_ESTIMATE
    return float(factor * base**exponent)


def check_sizes(sizes: object, argument: str = "sizes") -> tuple[int, ...]:
    """``sizes`` as a non-empty tuple of positive ints."""
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence):
        raise TypeError(f"{argument}: expected a sequence of axis sizes, received "
                        f"{type(sizes).__name__} {_short(sizes)}")
    if not sizes:
        raise ValueError(f"{argument}: expected at least one axis size, received "
                         f"{_short(sizes)}")
    return tuple(check_int(n, f"{argument}[{i}]", minimum=1) for i, n in enumerate(sizes))


def real_matrices(value: object, argument: str) -> Tensor:
    """``value`` (a tensor, array or nested list of real numbers) as a finite float64 CPU
    tensor (a copy).

    Raises:
        TypeError: not convertible to a real tensor (a str, a complex or bool tensor).
        ValueError: a tensor without data (on the meta device), or a NaN or infinite entry.
    """
    if isinstance(value, Tensor):
        t = value.detach()
    else:
        try:
            t = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{argument}: expected a real tensor, array or nested list, "
                            f"received {type(value).__name__} {_short(value)}") from exc
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{argument}: expected real matrices, received dtype {t.dtype}")
    if t.device.type == "meta":
        raise ValueError(f"{argument}: expected a tensor with data, received one on the meta "
                         "device")
    t = t.to(device="cpu", dtype=torch.float64).clone().contiguous()
    if t.numel() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{argument}: expected finite entries, received "
                         f"{int((~torch.isfinite(t)).sum())} NaN or infinite ones")
    return t
