"""Layers made of layers: one expression over the parts, the parameters kept by the parts.

A residual block or a whole model is an :class:`~prodint.interaction.layer.InteractionLayer`
too: its expression is its parts' expressions composed (a part states its sub-expression on
any input, :meth:`CompositeLayer.expression_on`), so its order is derived from the whole, and
``general`` / ``reference`` run that one expression. The parameters stay where torch users
look for them, in the parts: the part registered as ``attention`` keeps ``Wq`` as
``attention.params.Wq`` in the state dict (the contract's naming, prefixed by the sub-module
path). In the composite's expression the same tensor is the parameter ``attention_Wq``, and
the composite's :attr:`~CompositeLayer.params` is a read-only view under those names: nothing
is copied or registered twice, and every execution reads the tensors the optimiser updates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import torch
from torch import Tensor, nn

from prodint.checks import check_device, check_dtype, check_generator, describe
from prodint.interaction.expr import Expr, Signal
from prodint.interaction.layer import InteractionLayer


class PartParameters(Mapping[str, Tensor]):
    """``{"<part>_<name>": part.params[name]}``, read through to the parts on every access."""

    def __init__(self, parts: Mapping[str, InteractionLayer]):
        self._entries: dict[str, tuple[InteractionLayer, str]] = {}
        for key, part in parts.items():
            for name in part.params:
                full = f"{key}_{name}"
                if full in self._entries:
                    raise ValueError(f"parts: the parameter name {full!r} arises twice; "
                                     "expected part names that keep parameter names apart")
                self._entries[full] = (part, name)

    def __getitem__(self, name: str) -> Tensor:
        part, inner = self._entries[name]
        return part.params[inner]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


Compose = Callable[[Expr, Mapping[str, InteractionLayer], str], Expr]


class CompositeLayer(InteractionLayer):
    """An :class:`~prodint.interaction.layer.InteractionLayer` whose parts own the parameters.

    A subclass builds its parts (layers with ``expression_on(x, prefix)``: their expression
    on the input expression ``x``, every parameter name prefixed by ``prefix``; every
    single-signal :class:`~prodint.interaction.layer.InteractionLayer` has it), passes them by
    key with a ``compose`` function that states the whole on an input, and registers the parts
    as its sub-modules (under any attribute path it likes). ``compose(x, parts, prefix)`` must
    name the parameters of part ``key`` ``prefix + key + "_" + name``, which is what
    ``parts[key].expression_on(u, prefix + key + "_")`` does.

    Args:
        signal: the input of the whole.
        compose: ``compose(x, parts, prefix) -> Expr`` (above).
        parts: the parts by key (identifiers).
        device, dtype: where the composite's own fixed tables (if any) live.
        generator: random generator of draws the composite adds to its parts' (a subclass's
            :meth:`reset_parameters`).

    Attributes:
        params: the read-only :class:`PartParameters` view.

    Raises:
        TypeError: a signal that is not a :class:`~prodint.interaction.Signal`, a compose
            that is not callable, parts that are not a mapping of layers, a ``device``,
            ``dtype`` or ``generator`` of another kind.
        ValueError: a ``compose`` whose expression does not hold exactly the parts'
            parameters, an unknown device.
    """

    def __init__(self, signal: Signal, compose: Compose, parts: Mapping[str, InteractionLayer],
                 *, device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 generator: torch.Generator | None = None) -> None:
        if not isinstance(signal, Signal):
            raise TypeError(f"signal: expected a Signal, received {describe(signal)}")
        if not callable(compose):
            raise TypeError(f"compose: expected a callable compose(x, parts, prefix) -> Expr, "
                            f"received {describe(compose)}")
        if not isinstance(parts, Mapping):
            raise TypeError(f"parts: expected a mapping of names to InteractionLayers, "
                            f"received {describe(parts)}")
        device, dtype = check_device(device), check_dtype(dtype)
        check_generator(generator)
        for key, part in parts.items():
            if not isinstance(part, InteractionLayer):
                raise TypeError(f"parts[{key!r}]: expected an InteractionLayer, received "
                                f"{type(part).__name__}")
        view = PartParameters(parts)
        expression = compose(signal, parts, "")
        if not isinstance(expression, Expr):
            raise TypeError(f"compose: expected a function returning an Expr, received one "
                            f"returning {describe(expression)}")
        # the base class draws the expression's parameters: a private generator keeps that
        # discarded draw from consuming the caller's random stream
        super().__init__(expression, device=device, dtype=dtype, generator=torch.Generator())
        expected = {p.name: p.shape for p in expression.parameters()}
        held = {name: tuple(t.shape) for name, t in view.items()}
        if expected != held:
            raise ValueError(f"compose: expected an expression of the parts' parameters "
                             f"{held}, received {expected}")
        del self.params
        self.params = view  # type: ignore[assignment]
        # an algebra that a part holds moves with the part: keep only the composite's own
        held = {id(m) for part in parts.values() for m in part.modules()}
        self.algebras = nn.ModuleDict({key: a for key, a in self.algebras.items()
                                       if id(a) not in held})
        self._generator = generator
        self._compose, self._parts = compose, dict(parts)

    def expression_on(self, x: Expr, prefix: str) -> Expr:
        """This layer's expression on the input expression ``x``, every parameter name
        prefixed by ``prefix`` (how an enclosing composite states this one)."""
        return self._compose(x, self._parts, prefix)

    @torch.no_grad()
    def reset_parts(self) -> None:
        """Every part's own initialisation (its ``reset_parameters``), in the parts' order."""
        for part in self._parts.values():
            part.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Every part's own initialisation (:meth:`reset_parts`); a subclass that adds
        draws of its own (a language model's embedding scale) does them after it."""
        self.reset_parts()

    def extra_repr(self) -> str:
        return f"order={self.self_interaction_order}"
