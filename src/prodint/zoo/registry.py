"""Converters from torch (and peer) modules to prodint modules, and the zoo's common contract.

Every zoo module is an ``nn.Module`` with an ``expression`` attribute (its product
interaction, an :class:`~prodint.interaction.Expr`) and the matching
``self_interaction_order``. :func:`from_torch` looks up the converter registered for the
module's type; each family registers its own with :func:`register_converter`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar, runtime_checkable

from torch import nn

from prodint.interaction import Expr


@runtime_checkable
class ZooModule(Protocol):
    """What every zoo module offers besides ``forward``."""

    expression: Expr

    @property
    def self_interaction_order(self) -> int: ...


Converter = Callable[[nn.Module], nn.Module]
_CONVERTERS: dict[type, Converter] = {}
C = TypeVar("C", bound=Converter)


def register_converter(*torch_types: type) -> Callable[[C], C]:
    """Decorator: ``converter(module)`` handles modules of exactly these types."""

    def decorate(fn: C) -> C:
        for t in torch_types:
            _CONVERTERS[t] = fn
        return fn

    return decorate


def from_torch(module: nn.Module) -> nn.Module:
    """The prodint module computing the same function as ``module``, weights copied.

    The result has the same outputs (1e-10 in float64) and gradients, and an ``expression``
    with its ``self_interaction_order``. Unsupported modules or options raise a ``TypeError``
    / ``ValueError`` naming them.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, received {type(module).__name__}")
    converter = _CONVERTERS.get(type(module))
    if converter is None:
        names = sorted(t.__name__ for t in _CONVERTERS)
        raise TypeError(f"module: no converter for {type(module).__name__}; supported: {names}")
    return converter(module)


def supported_types() -> list[type]:
    """The torch module types :func:`from_torch` converts."""
    return list(_CONVERTERS)
