"""Hostile variants of a valid argument, for the boundary contract of :mod:`prodint.checks`.

:func:`mutations` turns one valid argument value into the bad or awkward values a careless or
hostile caller passes instead: wrong types, integral floats for ints, zero, negative and huge
sizes, NaN and inf hyper-parameters, tensors of another rank, another last dim, empty,
non-contiguous, of another dtype, on another device, NaN-filled, as nested lists. Each
:class:`Mutation` says what the contract demands of the call that receives it:

- ``must_raise``: the value is never valid (a str for an int, ``2.5`` for an int, a NaN
  hyper-parameter, a tensor on a device the other inputs are not on): the call must raise a
  ``TypeError``/``ValueError`` naming the argument;
- otherwise the value may be valid (``0`` may be a legal size, a tensor of another rank may
  be a legal batch): a clear error or a correct result, and when ``same_as_valid`` the result
  must equal the result for the valid value (a strided copy of a tensor, or the same integral
  values in an integer dtype, must give the same answer);
- ``finite_input``: every tensor it holds is finite, so a finite result is required.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from prodint.checks import check_bool, check_callable, check_instance, check_int

__all__ = ["Mutation", "mutations"]


@dataclass(frozen=True)
class Mutation:
    """One hostile value for an argument.

    Attributes:
        label: a short description for messages (``"rank+1"``, ``"nan"``).
        make: builds the value from the valid one (called afresh for every call, so a
            mutated tensor is never shared).
        must_raise: the call must refuse it.
        finite_input: the value holds no NaN/inf, so the result must be finite.
        reference: for values equivalent to a valid one, builds that valid value (the call's
            result with it is the expected result); ``None`` when no result is expected.
        relation: the value is wrong only against the other arguments (a tensor on another
            device than the rest), so an error naming any of them is as clear.
    """

    label: str
    make: Callable[[object], object]
    must_raise: bool = False
    finite_input: bool = True
    reference: Callable[[object], object] | None = None
    relation: bool = False

    def __post_init__(self) -> None:
        check_instance(self.label, "label", str)
        check_callable(self.make, "make")
        check_bool(self.must_raise, "must_raise")
        check_bool(self.finite_input, "finite_input")
        check_callable(self.reference, "reference", optional=True)
        check_bool(self.relation, "relation")


def _same(value: object) -> object:
    return value


def _scalar_mutations(value: object) -> list[Mutation]:
    if isinstance(value, bool):
        return [Mutation("str 'yes'", lambda v: "yes", must_raise=True),
                Mutation("int 1", lambda v: 1, must_raise=True),
                Mutation("None", lambda v: None)]
    if isinstance(value, int):
        return [Mutation("0", lambda v: 0), Mutation("-1", lambda v: -1),
                Mutation("2**40", lambda v: 2**40), Mutation("10**30", lambda v: 10**30),
                Mutation("2.5", lambda v: 2.5, must_raise=True),
                Mutation("integral float", lambda v: float(v), must_raise=True),  # type: ignore[arg-type]
                Mutation("str", lambda v: str(v), must_raise=True),
                Mutation("bool True", lambda v: True, must_raise=True),
                Mutation("None", lambda v: None)]
    if isinstance(value, float):
        return [Mutation("nan", lambda v: float("nan"), must_raise=True),
                Mutation("inf", lambda v: float("inf")), Mutation("-inf", lambda v: -float("inf")),
                Mutation("0.0", lambda v: 0.0), Mutation("-1.0", lambda v: -1.0),
                Mutation("1e300", lambda v: 1e300),
                Mutation("str", lambda v: "0.5", must_raise=True),
                Mutation("bool True", lambda v: True, must_raise=True),
                Mutation("None", lambda v: None)]
    if isinstance(value, str):
        return [Mutation("unknown str", lambda v: "no-such-option", must_raise=True),
                Mutation("empty str", lambda v: "", must_raise=True),
                Mutation("int 3", lambda v: 3, must_raise=True),
                Mutation("None", lambda v: None)]
    return []


def _free_str_mutations() -> list[Mutation]:
    return [Mutation("int 3", lambda v: 3, must_raise=True), Mutation("None", lambda v: None)]


def _sequence_mutations(value: list | tuple) -> list[Mutation]:
    kind = type(value)
    out = [Mutation("empty sequence", lambda v: kind()),
           Mutation("str", lambda v: "nonsense", must_raise=True),
           Mutation("None", lambda v: None)]
    if value and all(isinstance(e, int) and not isinstance(e, bool) for e in value):
        out += [Mutation("first -1", lambda v: kind([-1, *v[1:]])),  # type: ignore[index]
                Mutation("first 0", lambda v: kind([0, *v[1:]])),  # type: ignore[index]
                Mutation("first 2.5", lambda v: kind([2.5, *v[1:]]), must_raise=True),  # type: ignore[index]
                Mutation("first 2**40", lambda v: kind([2**40, *v[1:]]))]  # type: ignore[index]
    return out


def _strided(x: Tensor) -> Tensor:
    """The same values, not contiguous: every stride doubled (a view into a buffer that
    interleaves a copy)."""
    return torch.stack([x, x], dim=-1)[..., 0]


def _tensor_mutations(value: Tensor, others: int) -> list[Mutation]:
    out = [Mutation("rank+1", lambda v: v.unsqueeze(0)),  # type: ignore[union-attr]
           Mutation("strided", lambda v: _strided(v), reference=_same),  # type: ignore[arg-type]
           Mutation("list", lambda v: v.tolist())]  # type: ignore[union-attr]
    if value.dim() > 0:
        out += [Mutation("rank-1", lambda v: v[0]),  # type: ignore[index]
                Mutation("empty dim 0", lambda v: v[:0]),  # type: ignore[index]
                Mutation("last dim +1",
                         lambda v: torch.cat([v, v[..., :1]], dim=-1))]  # type: ignore[index]
    if others > 0:
        out.append(Mutation("on meta", lambda v: v.to("meta"), must_raise=True,
                            relation=True))  # type: ignore[union-attr]
    if value.is_floating_point():
        if value.numel() > 0:
            out.append(Mutation("one nan", _with_nan, finite_input=False))
        out += [Mutation("integer dtype", lambda v: v.round().to(torch.int64),  # type: ignore[union-attr]
                         reference=lambda v: v.round()),  # type: ignore[union-attr]
                Mutation("other float dtype", _other_float,
                         reference=lambda v: _other_float(v).to(v.dtype))]  # type: ignore[union-attr]
    elif value.dtype != torch.bool:
        out += [Mutation("negative entries", lambda v: -1 - v.abs()),  # type: ignore[operator]
                Mutation("huge entries", lambda v: v.abs() + 10**6),  # type: ignore[operator]
                Mutation("float dtype", lambda v: v.double(),  # type: ignore[union-attr]
                         reference=_same)]
    return out


def _with_nan(value: object) -> Tensor:
    x = value.clone()  # type: ignore[union-attr]
    x.view(-1)[0] = float("nan")
    return x


def _other_float(value: object) -> Tensor:
    x: Tensor = value  # type: ignore[assignment]
    return x.float() if x.dtype == torch.float64 else x.double()


def mutations(value: object, *, tensors: int = 1, free_text: bool = False) -> list[Mutation]:
    """The hostile variants of ``value`` (a valid argument).

    Args:
        value: the valid value.
        tensors: how many tensor arguments the call takes in all (a device mismatch needs a
            second one).
        free_text: ``value`` is a str that is free text (a name, a label), not a choice, so
            an unknown str is valid.

    Returns:
        The mutations for the value's kind; other objects (an algebra, a module, a callable)
        get ``None``, a str and an int, the last two to be refused.
    """
    check_int(tensors, "tensors", minimum=0)
    check_bool(free_text, "free_text")
    if isinstance(value, Tensor):
        return _tensor_mutations(value, tensors - 1)
    if isinstance(value, str) and free_text:
        return _free_str_mutations()
    if isinstance(value, (bool, int, float, str)):
        return _scalar_mutations(value)
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return _sequence_mutations(value)
    if value is None:
        return [Mutation("str", lambda v: "nonsense", must_raise=True)]
    return [Mutation("None", lambda v: None),
            Mutation("str", lambda v: "nonsense", must_raise=True),
            Mutation("int 3", lambda v: 3, must_raise=True)]
