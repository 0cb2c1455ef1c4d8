"""The text of a design space: :class:`SpaceSpec` and :func:`parse_space`.

A space is written as comma-separated ``key=value`` items (lists joined by ``+``), e.g.
``order=3,algebras=hadamard+complex,mixing=window+attention,causal``; the grammar the keys
filter is the module doc of :mod:`prodint.interaction.space`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from prodint.checks import describe
from prodint.interaction.pointwise import ELEMENTWISE
from prodint.interaction.space_build import CHANNEL_ALGEBRAS

__all__ = ["CHANNEL_GROUPS", "FUNCTIONS", "MIXINGS", "SYMMETRIES", "SpaceSpec", "parse_space"]

MIXINGS = ("none", "window", "sequence", "cyclic", "tokens", "scan", "selective", "attention",
           "softmax", "tensor")
SYMMETRIES = ("shift", "cyclic", "permutation", "channels")
#: Groups that may act on the channels (the ``channels`` key of a space).
CHANNEL_GROUPS = ("cyclic",)
FUNCTIONS = ("id", *sorted(ELEMENTWISE))


@dataclass(frozen=True)
class SpaceSpec:
    """The filters of a design space (text form: :func:`parse_space`).

    Attributes:
        order: the highest self-interaction order kept.
        algebras: the channel algebras products and gates may use.
        mixings: the token mixings (:data:`MIXINGS`).
        functions: the elementwise functions of factors and gates (``"id"``: none).
        kernel: the window of ``window``.
        params: the most parameters a candidate may have (``None``: any).
        causal: keep causal candidates only.
        equivariant: keep candidates with this symmetry (:data:`SYMMETRIES`).
        substitutions: the most parameters substituted by input expressions.
        channels: a group of :data:`CHANNEL_GROUPS` imposed on every channel map (a
            symmetry *constraint*: the weights are tied, :func:`constrain`); its candidates
            use Hadamard products only and have the ``channels`` symmetry.
    """

    order: int = 3
    algebras: tuple[str, ...] = ("hadamard",)
    mixings: tuple[str, ...] = MIXINGS
    functions: tuple[str, ...] = ("id", "sigmoid")
    kernel: int = 3
    params: int | None = None
    causal: bool = False
    equivariant: str | None = None
    substitutions: int | None = None
    channels: str | None = None

    def text(self) -> str:
        """The canonical text: ``parse_space(spec.text()) == spec``."""
        items = [f"order={self.order}", f"algebras={'+'.join(self.algebras)}",
                 f"mixing={'+'.join(self.mixings)}", f"functions={'+'.join(self.functions)}",
                 f"kernel={self.kernel}"]
        if self.params is not None:
            items.append(f"params={self.params}")
        if self.causal:
            items.append("causal")
        if self.equivariant is not None:
            items.append(f"equivariant={self.equivariant}")
        if self.substitutions is not None:
            items.append(f"substitutions={self.substitutions}")
        if self.channels is not None:
            items.append(f"channels={self.channels}")
        return ",".join(items)

    def fingerprint(self) -> str:
        """The SHA-256 hex digest of :meth:`text` (identifies the space of a study)."""
        return hashlib.sha256(self.text().encode()).hexdigest()


def _names(value: str, key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    names = [n.strip() for n in value.split("+")]
    for n in names:
        if n not in allowed:
            raise ValueError(f"space: unknown {key} {n!r} in {key}={value}; expected one of "
                             f"{', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise ValueError(f"space: {key}={value} names one twice")
    return tuple(n for n in allowed if n in names)   # canonical order


def _number(value: str, key: str, minimum: int) -> int:
    try:
        n = int(value)
    except ValueError:
        n = None
    if n is None or n < minimum:
        raise ValueError(f"space: expected an integer >= {minimum} for {key}, received "
                         f"{key}={value}")
    return n


def parse_space(space: str) -> SpaceSpec:
    """The :class:`SpaceSpec` of the text ``space``: comma-separated ``key=value`` items,
    lists joined by ``+``, e.g.
    ``"order=3,algebras=hadamard+complex,mixing=window+attention,causal"``.

    Keys: ``order`` (≥ 1), ``algebras`` (:data:`CHANNEL_ALGEBRAS`), ``mixing``
    (:data:`MIXINGS`), ``functions`` (``id`` and the elementwise functions), ``kernel`` (≥ 1),
    ``params`` (≥ 1), ``causal`` (a flag, or ``causal=true|false``), ``equivariant``
    (:data:`SYMMETRIES`), ``substitutions`` (≥ 0), ``channels`` (:data:`CHANNEL_GROUPS`).
    Keys left out keep :class:`SpaceSpec`'s
    defaults; an empty text is the default space.

    Raises:
        TypeError: ``space`` is not a str.
        ValueError: an unknown key or value, a key given twice (the message starts
            ``space:`` and lists the valid choices).
    """
    if not isinstance(space, str):
        raise TypeError(f"space: expected a str, received {describe(space)}")
    fields: dict[str, object] = {}
    for item in (i.strip() for i in space.split(",")):
        if not item:
            continue
        key, _, value = item.partition("=")
        key = key.strip()
        if key in fields or (key == "mixing" and "mixings" in fields):
            raise ValueError(f"space: {key} given twice in {space!r}")
        if key == "causal":
            if value.strip() not in ("", "true", "false"):
                raise ValueError(f"space: expected causal, causal=true or causal=false, "
                                 f"received {item}")
            fields["causal"] = value.strip() != "false"
        elif key == "order":
            fields["order"] = _number(value, key, 1)
        elif key in ("kernel", "params"):
            fields[key] = _number(value, key, 1)
        elif key == "substitutions":
            fields[key] = _number(value, key, 0)
        elif key == "algebras":
            fields[key] = _names(value, key, CHANNEL_ALGEBRAS)
        elif key == "mixing":
            fields["mixings"] = _names(value, key, MIXINGS)
        elif key == "functions":
            fields[key] = _names(value, key, FUNCTIONS)
        elif key == "equivariant":
            fields[key] = _names(value, key, SYMMETRIES)[0]
        elif key == "channels":
            fields[key] = _names(value, key, CHANNEL_GROUPS)[0]
        else:
            raise ValueError(f"space: unknown key {key!r}; expected one of order, algebras, "
                             "mixing, functions, kernel, params, causal, equivariant, "
                             "substitutions, channels")
    return SpaceSpec(**fields)  # type: ignore[arg-type]
