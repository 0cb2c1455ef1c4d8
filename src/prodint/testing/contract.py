"""The boundary contract of a public entry point, as a testable property.

For a call ``run(arguments)`` that works on valid ``arguments``, every hostile variant of one
argument (:func:`prodint.testing.mutations.mutations`) must lead to one of two outcomes:

1. a ``TypeError`` or ``ValueError`` whose message names the argument (the rule of
   :mod:`prodint.checks`), or
2. a correct result: finite when every input is finite, and equal to the valid call's result
   when the variant holds the same values (a strided or integer-dtype copy of a tensor).

Anything else is a :class:`Violation`: another exception (an opaque torch error, an
``IndexError``), an error that does not name the argument, a refused value accepted, a
non-finite or wrong result, a call that runs past ``timeout`` seconds, or one that tries to
allocate more than ``memory`` bytes (the address space is capped during the call, so an
attempt to allocate terabytes fails at once instead of taking the machine down).
"""

from __future__ import annotations

import os
import re
import resource
import signal
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from prodint.checks import (
    check_bool,
    check_callable,
    check_float,
    check_instance,
    check_int,
    describe,
)
from prodint.testing.mutations import Mutation, mutations

__all__ = ["Entry", "Violation", "assert_contract", "check_contract", "check_mutation",
           "count_cases"]


@dataclass(frozen=True)
class Entry:
    """A public entry point under the contract: how to call it and with what.

    Attributes:
        names: the public names the call exercises (``"prodint.algebra.cyclic"``), for the
            check that every exported name is covered.
        run: performs the call, ``run(arguments) -> result``.
        arguments: builds a fresh dict of valid arguments keyed by the public parameter
            names (those the errors must use).
        fixed: arguments not to mutate.
        free_text: str arguments that are free text (names), not choices.
        aliases: other names an error may use for an argument.
    """

    names: tuple[str, ...]
    run: Callable[[dict[str, Any]], Any]
    arguments: Callable[[], dict[str, Any]]
    fixed: frozenset[str] = frozenset()
    free_text: frozenset[str] = frozenset()
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = _strings(self.names, "names")
        if not names:
            raise ValueError("names: expected at least one public name, received none")
        check_callable(self.run, "run")
        check_callable(self.arguments, "arguments")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "fixed", frozenset(_strings(self.fixed, "fixed")))
        object.__setattr__(self, "free_text", frozenset(_strings(self.free_text, "free_text")))
        object.__setattr__(self, "aliases", _alias_map(self.aliases))

    @property
    def id(self) -> str:
        return "+".join(n.removeprefix("prodint.") for n in self.names)


@dataclass(frozen=True)
class Violation:
    """One broken promise: ``argument`` given the variant ``label`` led to ``problem``."""

    argument: str
    label: str
    problem: str

    def __post_init__(self) -> None:
        for name in ("argument", "label", "problem"):
            check_instance(getattr(self, name), name, str)

    def __str__(self) -> str:
        return f"{self.argument} <- {self.label}: {self.problem}"


class _Timeout(BaseException):
    """Raised by the alarm inside a call that ran too long (a BaseException, so that the
    code under test cannot swallow it)."""


def _tensors(value: object) -> Iterator[Tensor]:
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _tensors(v)


def _virtual_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0  # pragma: no cover - not Linux


def _guarded(call: Callable[[], Any], timeout: float, memory: int) -> Any:
    """``call()`` with the address space capped at ``memory`` bytes above its current size
    and an alarm after ``timeout`` seconds, with prodint's memory budget
    (``PRODINT_MAX_BYTES``) at half of ``memory``."""
    old_limit = resource.getrlimit(resource.RLIMIT_AS)
    cap = _virtual_size() + memory
    if old_limit[1] != resource.RLIM_INFINITY:
        cap = min(cap, old_limit[1])

    def alarm(signum: int, frame: object) -> None:
        raise _Timeout

    outer, _ = signal.getitimer(signal.ITIMER_REAL)  # an enclosing guard's time left
    start = time.monotonic()
    old_handler = signal.signal(signal.SIGALRM, alarm)
    old_budget = os.environ.get("PRODINT_MAX_BYTES")
    # prodint's own budget (prodint.checks.memory_limit) below the cap: a size the library
    # estimates within budget can finish; one above it must be refused by the estimate.
    os.environ["PRODINT_MAX_BYTES"] = str(memory // 2)
    resource.setrlimit(resource.RLIMIT_AS, (cap, old_limit[1]))
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_AS, old_limit)
        signal.signal(signal.SIGALRM, old_handler)
        if outer > 0:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 1e-3))
        if old_budget is None:
            os.environ.pop("PRODINT_MAX_BYTES", None)
        else:
            os.environ["PRODINT_MAX_BYTES"] = old_budget


def _names(message: str, argument: str, aliases: Collection[str]) -> bool:
    return any(re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", message)
               for n in (argument, *aliases))


def _close(a: object, b: object) -> bool:
    ta, tb = list(_tensors(a)), list(_tensors(b))
    if len(ta) != len(tb):
        return False
    for x, y in zip(ta, tb, strict=True):
        if x.shape != y.shape:
            return False
        if not (x.is_floating_point() or y.is_floating_point()):
            if not torch.equal(x, y):
                return False
            continue
        x64, y64 = x.detach().double(), y.detach().double()
        scale = max(1.0, float(y64.abs().max()) if y64.numel() else 0.0)
        tol = 1e-9 if torch.float64 in (x.dtype, y.dtype) and \
            torch.float32 not in (x.dtype, y.dtype) else 1e-4
        if x64.numel() and not bool(((x64 - y64).abs() <= tol * scale).all()):
            return False
    return True


def _limits(timeout: object, memory: object) -> tuple[float, int]:
    """``timeout`` (seconds, positive, at most a day) and ``memory`` (bytes, 1 MiB to 1 PiB)."""
    return (check_float(timeout, "timeout", minimum=0, strict_minimum=True, maximum=86400),
            check_int(memory, "memory", minimum=1 << 20, maximum=1 << 50))


def _strings(value: object, argument: str) -> tuple[str, ...]:
    """``value`` (a collection of str, not a str) as a tuple of str."""
    if isinstance(value, str) or not isinstance(value, Collection) or \
            not all(isinstance(v, str) for v in value):
        raise TypeError(f"{argument}: expected a collection of str, received "
                        f"{describe(value)}")
    return tuple(value)


def _alias_map(value: object) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"aliases: expected a mapping of argument names to names, received "
                        f"{describe(value)}")
    return {check_instance(k, "aliases", str): _strings(v, f"aliases[{k!r}]")
            for k, v in value.items()}


def _valid_arguments(arguments: object) -> dict[str, Any]:
    """The dict a valid-arguments factory builds (its keys are the names errors use)."""
    check_callable(arguments, "arguments")
    base = arguments()  # type: ignore[operator]
    if not isinstance(base, dict) or not all(isinstance(k, str) for k in base):
        raise TypeError(f"arguments: expected a callable returning a dict keyed by argument "
                        f"names, received one returning {describe(base)}")
    return base


def check_mutation(run: Callable[[dict[str, Any]], Any],
                   arguments: dict[str, Any] | Callable[[], dict[str, Any]],
                   argument: str, mutation: Mutation, *, aliases: Collection[str] = (),
                   timeout: float = 20.0, memory: int = 3 << 30,
                   valid_finite: bool = True) -> str | None:
    """The problem with ``run`` on ``arguments`` with ``argument`` replaced by ``mutation``
    (a sentence), or ``None`` when the contract holds.

    ``arguments`` is the dict of valid arguments or, better, the factory that builds one:
    then the call with the mutation and the reference call each get fresh arguments (a
    generator the first call used is not shared with the second). ``valid_finite``: the
    valid call's result is finite, so a finite result is demanded."""
    check_callable(run, "run")
    if callable(arguments):
        factory = arguments
        arguments = _valid_arguments(factory)
    else:
        check_instance(arguments, "arguments", dict)
        factory = None
    if argument not in arguments:
        raise ValueError(f"argument: expected one of the arguments {sorted(arguments)}, "
                         f"received {describe(argument)}")
    check_instance(mutation, "mutation", Mutation)
    timeout, memory = _limits(timeout, memory)
    aliases = _strings(aliases, "aliases")
    check_bool(valid_finite, "valid_finite")
    valid = arguments[argument]
    bad = dict(arguments, **{argument: mutation.make(valid)})
    try:
        result = _guarded(lambda: run(bad), timeout, memory)
    except _Timeout:
        return f"ran past {timeout:g} s"
    except MemoryError:
        return "tried to allocate more than the memory cap (MemoryError)"
    except (TypeError, ValueError) as error:
        message = str(error)
        if "can't allocate memory" in message:  # pragma: no cover - torch raises RuntimeError
            return f"tried to allocate more than the memory cap: {message[:200]}"
        # A value that is never valid must be refused by name; a value that may be valid
        # (another rank, zero, a bound) may also break a relation with another argument,
        # and an error naming that argument is as clear.
        others = () if mutation.must_raise and not mutation.relation else \
            tuple(n for n in arguments if n != argument)
        if not _names(message, argument, (*aliases, *others)):
            return f"{type(error).__name__} does not name the argument: {message[:300]}"
        return None
    except Exception as error:
        message = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        if "allocate" in message:
            return f"tried to allocate more than the memory cap: {message}"
        return f"{type(error).__name__} (not a clear error): {message}"
    if mutation.must_raise:
        return "accepted (expected a TypeError/ValueError naming the argument)"
    finite_inputs = mutation.finite_input and all(
        bool(torch.isfinite(t).all()) for t in _tensors(list(bad.values()))
        if t.is_floating_point() and t.device.type != "meta")
    if finite_inputs and valid_finite:
        for t in _tensors(result):
            if t.is_floating_point() and t.device.type != "meta" and \
                    not bool(torch.isfinite(t).all()):
                return "returned a non-finite result from finite input"
    if mutation.reference is not None:
        # fresh arguments where a factory is given: a generator or a buffer the first call
        # used is not shared with the reference call
        again = arguments if factory is None else _valid_arguments(factory)
        same = dict(again, **{argument: mutation.reference(again[argument])})
        expected = _guarded(lambda: run(same), timeout, memory)
        if not _close(result, expected):
            return "returned a result different from that of the equivalent valid input"
    return None


def check_contract(run: Callable[[dict[str, Any]], Any],
                   arguments: Callable[[], dict[str, Any]], *,
                   fixed: Collection[str] = (), free_text: Collection[str] = (),
                   aliases: Mapping[str, Collection[str]] | None = None,
                   timeout: float = 20.0, memory: int = 3 << 30) -> list[Violation]:
    """Every violation of the boundary contract by ``run`` over ``arguments``.

    Args:
        run: performs the call, ``run(arguments) -> result`` (e.g. ``lambda a: cyclic(**a)``
            or a constructor followed by a forward).
        arguments: builds a fresh dict of valid arguments, keyed by the public parameter
            names the errors must use.
        fixed: arguments not to mutate.
        free_text: str arguments that are free text (names), not choices.
        aliases: other names an error may use for an argument (``{"x": ["input"]}``).
        timeout: seconds one call may take.
        memory: bytes one call may allocate.

    Returns:
        The violations (empty when the contract holds). The valid call itself must succeed
        (an exception from it propagates) and its floating outputs must be finite.
    """
    check_callable(run, "run")
    base = _valid_arguments(arguments)
    fixed, free_text = _strings(fixed, "fixed"), _strings(free_text, "free_text")
    alias = _alias_map(aliases)
    timeout, memory = _limits(timeout, memory)
    valid = _guarded(lambda: run(base), timeout, memory)
    valid_finite = all(bool(torch.isfinite(t).all()) for t in _tensors(valid)
                       if t.is_floating_point())
    tensors = sum(1 for v in base.values() if isinstance(v, Tensor))
    out = []
    for name, value in base.items():
        if name in fixed:
            continue
        for mutation in mutations(value, tensors=tensors, free_text=name in free_text):
            problem = check_mutation(run, arguments, name, mutation,
                                     aliases=alias.get(name, ()), timeout=timeout,
                                     memory=memory, valid_finite=valid_finite)
            if problem is not None:
                out.append(Violation(name, mutation.label, problem))
    return out


def count_cases(arguments: Callable[[], dict[str, Any]], *, fixed: Collection[str] = (),
                free_text: Collection[str] = ()) -> int:
    """How many hostile calls :func:`check_contract` makes over ``arguments``."""
    base = _valid_arguments(arguments)
    fixed, free_text = _strings(fixed, "fixed"), _strings(free_text, "free_text")
    tensors = sum(1 for v in base.values() if isinstance(v, Tensor))
    return sum(len(mutations(v, tensors=tensors, free_text=n in free_text))
               for n, v in base.items() if n not in fixed)


def assert_contract(run: Callable[[dict[str, Any]], Any],
                    arguments: Callable[[], dict[str, Any]], *, name: str = "the call",
                    **options: Any) -> None:
    """Raise ``AssertionError`` listing every violation of :func:`check_contract`."""
    check_instance(name, "name", str)
    violations = check_contract(run, arguments, **options)
    if violations:
        lines = "\n  ".join(str(v) for v in violations)
        raise AssertionError(f"{name}: {len(violations)} violations of the boundary "
                             f"contract:\n  {lines}")
