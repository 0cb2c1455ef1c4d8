"""The registry of layer families: how each family draws a small random configuration.

A :class:`Family` names a layer family and builds, from a random generator, a :class:`Case`:
a small float64 layer, its inputs and the self-interaction order the family documents for
it. :func:`prodint.families.families` collects every family prodint ships; one test over
the registry holds ``forward``, ``general`` and ``reference`` equal and the order derived
(the layer contract of :mod:`prodint.interaction.layer`). :func:`choice` and :func:`randn`
draw a configuration's options and inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import torch
from torch import Tensor, nn

from prodint.checks import check_bool, check_generator, check_int, describe

__all__ = ["Case", "Family", "choice", "randn"]

T = TypeVar("T")


def _check_inputs(value: object, argument: str) -> tuple:
    """``value`` as a tuple of inputs: tensors, or tuples of tensors (a state ``(h, c)``)."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        raise TypeError(f"{argument}: expected a tuple of tensors, received {describe(value)}")
    for i, item in enumerate(value):
        if isinstance(item, (tuple, list)):
            _check_inputs(item, f"{argument}[{i}]")
        elif not isinstance(item, Tensor):
            raise TypeError(f"{argument}[{i}]: expected a torch.Tensor or a tuple of them, "
                            f"received {describe(item)}")
    return tuple(value)


@dataclass(frozen=True)
class Case:
    """One random configuration of a family: the layer, its inputs, its documented order.

    Attributes:
        layer: the module (float64).
        inputs: positional inputs of ``forward``, ``general`` and ``reference`` (tensors, or
            tuples of tensors such as a recurrent state ``(h, c)``).
        order: the self-interaction order the family documents for this configuration.
        named: keyword inputs, if any.

    Raises:
        TypeError: a layer that is not a module, inputs that are not tensors, an order that
            is not an int, named inputs that are not a mapping of names to tensors.
        ValueError: a negative order.
    """

    layer: nn.Module
    inputs: tuple[Tensor, ...]
    order: int
    named: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.layer, nn.Module):
            raise TypeError(f"layer: expected a torch.nn.Module, received "
                            f"{describe(self.layer)}")
        object.__setattr__(self, "inputs", _check_inputs(self.inputs, "inputs"))
        check_int(self.order, "order", minimum=0)
        if not isinstance(self.named, Mapping):
            raise TypeError(f"named: expected a mapping of names to tensors, received "
                            f"{describe(self.named)}")
        for key, value in self.named.items():
            if not isinstance(key, str) or not isinstance(value, Tensor):
                raise TypeError(f"named: expected a mapping of names to tensors, received "
                                f"{key!r}: {describe(value)}")
        object.__setattr__(self, "named", dict(self.named))


@dataclass(frozen=True)
class Family:
    """A layer family: how to draw a small random configuration of it.

    Attributes:
        name: a readable identifier (test ids use it).
        build: ``build(generator) -> Case`` in float64.
        compile: whether ``torch.compile(layer.general, fullgraph=True)`` must work (families
            whose expression has no data-dependent loop; keep these few, compiling is slow).

    Raises:
        TypeError: a name that is not a str, a build that is not callable, a compile flag
            that is not a bool.
        ValueError: an empty name.
    """

    name: str
    build: Callable[[torch.Generator], Case]
    compile: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"name: expected a str, received {describe(self.name)}")
        if not self.name:
            raise ValueError("name: expected a non-empty name, received ''")
        if not callable(self.build):
            raise TypeError(f"build: expected a callable build(generator) -> Case, received "
                            f"{describe(self.build)}")
        check_bool(self.compile, "compile")


def choice(generator: torch.Generator, options: Sequence[T]) -> T:
    """One of ``options``, drawn with ``generator`` (for random family configurations).

    Raises:
        TypeError: ``generator`` is not a generator, ``options`` not a sequence.
        ValueError: no options.
    """
    check_generator(generator)
    if isinstance(options, str) or not isinstance(options, Sequence):
        raise TypeError(f"options: expected a sequence, received {describe(options)}")
    if not options:
        raise ValueError("options: expected at least one option, received none")
    return options[int(torch.randint(len(options), (), generator=generator))]


def randn(generator: torch.Generator, *shape: int) -> Tensor:
    """A float64 standard normal tensor of ``shape`` drawn with ``generator``.

    Raises:
        TypeError: ``generator`` is not a generator, a size that is not an int.
        ValueError: a negative size.
    """
    check_generator(generator)
    sizes = [check_int(n, f"shape[{i}]", minimum=0) for i, n in enumerate(shape)]
    return torch.randn(sizes, generator=generator, dtype=torch.float64)
