"""Converters from torch (and peer) modules to prodint modules, and the contract they follow.

Every zoo module is an :class:`~prodint.interaction.layer.InteractionLayer`: the layer
contract, documented there and stated here as the protocol :class:`ZooModule`. Its
``expression`` is the product interaction it computes, ``self_interaction_order`` is derived
from it, ``forward`` is the fast path, ``general`` the compiled expression, ``reference`` the
node-by-node evaluation and ``oracle`` (optional) an independent implementation, all taking
the same arguments and returning the same structure; learnable tensors are ``params.<name>``
in a state dict. :func:`from_torch` looks up the converter registered for the module's type;
each family registers its own with :func:`register_converter` and copies the weights with
:func:`copy_from`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar, runtime_checkable

from torch import Tensor, nn

from prodint.interaction import Expr
from prodint.interaction.layer import InteractionLayer


@runtime_checkable
class ZooModule(Protocol):
    """The layer contract (see :class:`~prodint.interaction.layer.InteractionLayer`)."""

    @property
    def expression(self) -> Expr:
        """The complete interaction the module computes."""
        ...

    @property
    def self_interaction_order(self) -> int:
        """Derived from :attr:`expression`."""
        ...

    def general(self, *inputs: object, **named: object) -> object:
        """The compiled expression (``forward``'s arguments and result structure)."""
        ...

    def reference(self, *inputs: object, **named: object) -> object:
        """The node-by-node evaluation of the expression (likewise)."""
        ...

    def oracle(self, *inputs: object, **named: object) -> object:
        """An independent implementation, or ``NotImplementedError``."""
        ...

    def reset_parameters(self) -> None:
        """Redraw every parameter with its documented initialisation."""
        ...


Converter = Callable[[nn.Module], nn.Module]
_CONVERTERS: dict[type, Converter] = {}
C = TypeVar("C", bound=Converter)
L = TypeVar("L", bound=InteractionLayer)


def register_converter(*torch_types: type) -> Callable[[C], C]:
    """Decorator: ``converter(module)`` handles modules of exactly these types.

    Raises:
        TypeError: a type that is not a subclass of ``torch.nn.Module``, or a converter that
            is not callable.
        ValueError: no type.
    """
    if not torch_types:
        raise ValueError("torch_types: expected at least one torch.nn.Module subclass, "
                         "received none")
    for t in torch_types:
        if not (isinstance(t, type) and issubclass(t, nn.Module)):
            raise TypeError(f"torch_types: expected subclasses of torch.nn.Module, received "
                            f"{t!r}")

    def decorate(converter: C) -> C:
        if not callable(converter):
            raise TypeError(f"converter: expected a callable (module) -> module, received "
                            f"{type(converter).__name__}")
        for t in torch_types:
            _CONVERTERS[t] = converter
        return converter

    return decorate


def copy_from(layer: L, module: nn.Module, **tensors: Tensor | None) -> L:
    """``layer`` moved to ``module``'s device and dtype, in its training mode, with every
    tensor given (``None`` skipped: an absent bias) copied into the parameter of that name."""
    first = next(module.parameters(), None)
    if first is not None:
        layer.to(device=first.device, dtype=first.dtype)
    layer.load_tensors(**{name: t for name, t in tensors.items() if t is not None})
    return layer.train(module.training)


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
