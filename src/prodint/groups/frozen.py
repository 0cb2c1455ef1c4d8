"""Copy and pickle support for the immutable, slotted structure objects of this package.

Groups, Lie groups and representations refuse attribute assignment. Copies of an immutable
object can be the object itself, and unpickling restores the slots directly.
"""

from __future__ import annotations

from typing import Any


class FrozenSlots:
    """Mixin: ``copy``/``deepcopy`` return ``self``; pickling saves and restores the slots."""

    __slots__ = ()

    def __copy__(self) -> FrozenSlots:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenSlots:
        return self

    def __getstate__(self) -> dict[str, Any]:
        slots = [s for cls in type(self).__mro__ for s in getattr(cls, "__slots__", ())]
        return {s: getattr(self, s) for s in slots if hasattr(self, s)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
