"""Named axes: the typed structure of a product-interaction expression.

Every expression value is a tensor ``[*batch, *axes]``: any number of leading batch dimensions
followed by one dimension per named :class:`Axis`. An axis may carry the algebra its
coordinates live in (a product over that axis must use the same algebra) and may leave its
size free (``None``, e.g. a sequence length fixed only when data arrives).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from prodint.checks import check_int, check_name, describe


@runtime_checkable
class ProductAlgebra(Protocol):
    """What the expression language needs from an algebra (fixed or learned)."""

    dim: int
    name: str

    @property
    def structure_constants(self) -> Tensor: ...

    def mul(self, x: Tensor, y: Tensor) -> Tensor: ...


def check_algebra(value: object, argument: str, *, optional: bool = False) -> ProductAlgebra:
    """``value`` as an algebra (a :class:`ProductAlgebra`; ``None`` too when ``optional``).

    Raises:
        TypeError: ``value`` is not an algebra.
    """
    if value is None and optional:
        return value  # type: ignore[return-value]
    # the members a product reads, looked up without evaluating structure_constants (a
    # learned algebra computes it)
    dim = getattr(value, "dim", None)
    if isinstance(dim, int) and not isinstance(dim, bool) and \
            callable(getattr(value, "mul", None)) and isinstance(getattr(value, "name", None), str):
        return value  # type: ignore[return-value]
    wanted = "an algebra or None" if optional else "an algebra"
    raise TypeError(f"{argument}: expected {wanted} (dim, name, structure_constants, mul), "
                    f"received {describe(value)}")


def same_algebra(a: ProductAlgebra | None, b: ProductAlgebra | None) -> bool:
    """Whether two algebra tags denote the same algebra (identity, or equal structure).

    Raises:
        TypeError: ``a`` or ``b`` is neither an algebra nor ``None``.
    """
    check_algebra(a, "a", optional=True)
    check_algebra(b, "b", optional=True)
    if a is None or b is None:
        return a is b
    if a is b:
        return True
    if a.dim != b.dim or a.name != b.name:
        return False
    ga, gb = a.structure_constants.detach(), b.structure_constants.detach()
    return bool(torch.equal(ga.to(gb.dtype).cpu(), gb.cpu()))


class Axis:
    """A named tensor axis of fixed (or free) size, optionally typed by an algebra.

    Args:
        name: identifier used to match axes between operands.
        size: the length, or ``None`` for a free axis (any length at run time).
        algebra: the algebra whose coordinates this axis holds, if any.

    Raises:
        TypeError: a name that is not a str, a size that is not an int, an algebra that is
            not one.
        ValueError: a name that is not an identifier, a size below 1 or other than the
            algebra's dimension.
    """

    __slots__ = ("algebra", "name", "size")

    def __init__(self, name: str, size: int | None, algebra: ProductAlgebra | None = None):
        _check_axis(name, size, algebra, "name", "size", "algebra")
        if algebra is not None and size is None:
            size = algebra.dim
        self.name = name
        self.size = size
        self.algebra = algebra

    def with_name(self, name: str) -> Axis:
        return Axis(name, self.size, self.algebra)

    def with_size(self, size: int | None) -> Axis:
        return Axis(self.name, size, None)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Axis)
            and self.name == other.name
            and self.size == other.size
            and same_algebra(self.algebra, other.algebra)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.size))

    def __repr__(self) -> str:
        size = "*" if self.size is None else str(self.size)
        alg = f":{self.algebra.name}" if self.algebra is not None else ""
        return f"{self.name}={size}{alg}"


def _check_axis(name: object, size: object, algebra: object, *arguments: str) -> None:
    """The checks of :class:`Axis`, the messages naming ``arguments`` (name, size, algebra)."""
    check_name(name, arguments[0])
    if size is not None:
        check_int(size, arguments[1], minimum=1)
    check_algebra(algebra, arguments[2], optional=True)
    if algebra is not None and size is not None and algebra.dim != size:  # type: ignore[union-attr]
        raise ValueError(f"{arguments[1]}: expected {algebra.dim} for algebra "  # type: ignore[union-attr]
                         f"{algebra.name} (axis {name!r}), received {size}")  # type: ignore[union-attr]


AxisSpec = Axis | tuple[str, int | None] | tuple[str, int | None, ProductAlgebra | None]


def make_axes(specs: Iterable[AxisSpec], *, argument: str = "axes") -> tuple[Axis, ...]:
    """Normalise axis specifications (``Axis`` or ``(name, size[, algebra])``) to a tuple.

    Raises:
        TypeError: ``specs`` is not a sequence of such specifications, or one is malformed.
        ValueError: a bad name or size (see :class:`Axis`), or two axes of one name.
    """
    if isinstance(specs, (str, bytes)) or not isinstance(specs, Iterable):
        raise TypeError(f"{argument}: expected a sequence of Axis or (name, size[, algebra]) "
                        f"tuples, received {describe(specs)}")
    axes: list[Axis] = []
    for i, spec in enumerate(specs):
        if isinstance(spec, Axis):
            axes.append(spec)
        elif isinstance(spec, tuple) and len(spec) in (2, 3):
            name, size, algebra = (*spec, None)[:3]
            where = f"{argument}[{i}]"
            _check_axis(name, size, algebra, where, where, where)
            axes.append(Axis(name, size, algebra))  # type: ignore[arg-type]
        else:
            raise TypeError(f"{argument}: expected Axis or (name, size[, algebra]) tuples, "
                            f"received {describe(spec)}")
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise ValueError(f"{argument}: expected distinct axis names, received {names}")
    return tuple(axes)


def axis_names(axes: Sequence[Axis]) -> tuple[str, ...]:
    return tuple(a.name for a in axes)


def find_axis(axes: Sequence[Axis], name: str, *, argument: str, owner: str) -> int:
    """Position of the axis called ``name``; a clear ``ValueError`` if it does not exist
    (a ``TypeError`` if ``name`` is not a str)."""
    if not isinstance(name, str):
        raise TypeError(f"{argument}: expected an axis name (a str), received "
                        f"{describe(name)}")
    for i, a in enumerate(axes):
        if a.name == name:
            return i
    raise ValueError(f"{argument}: expected an axis of {owner} (one of its axes "
                     f"{list(axis_names(axes))}), received {name!r}")


def merge_sizes(a: Axis, b: Axis, *, argument: str) -> Axis:
    """The common axis of two operands sharing a name; sizes must agree (free matches all)."""
    if a.size is not None and b.size is not None and a.size != b.size:
        raise ValueError(f"{argument}: axis {a.name!r} has size {a.size} on the left and "
                         f"{b.size} on the right; expected equal sizes")
    if not same_algebra(a.algebra, b.algebra) and a.algebra is not None and b.algebra is not None:
        raise ValueError(f"{argument}: axis {a.name!r} holds {a.algebra.name} on the left and "
                         f"{b.algebra.name} on the right; expected the same algebra")
    return Axis(a.name, a.size if a.size is not None else b.size, a.algebra or b.algebra)
