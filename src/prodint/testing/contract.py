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

import re
import resource
import signal
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

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

    @property
    def id(self) -> str:
        return "+".join(n.removeprefix("prodint.") for n in self.names)


@dataclass(frozen=True)
class Violation:
    """One broken promise: ``argument`` given the variant ``label`` led to ``problem``."""

    argument: str
    label: str
    problem: str

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
    and an alarm after ``timeout`` seconds."""
    old_limit = resource.getrlimit(resource.RLIMIT_AS)
    cap = _virtual_size() + memory
    if old_limit[1] != resource.RLIM_INFINITY:
        cap = min(cap, old_limit[1])

    def alarm(signum: int, frame: object) -> None:
        raise _Timeout

    old_handler = signal.signal(signal.SIGALRM, alarm)
    resource.setrlimit(resource.RLIMIT_AS, (cap, old_limit[1]))
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_AS, old_limit)
        signal.signal(signal.SIGALRM, old_handler)


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


def check_mutation(run: Callable[[dict[str, Any]], Any], arguments: dict[str, Any],
                   argument: str, mutation: Mutation, *, aliases: Collection[str] = (),
                   timeout: float = 20.0, memory: int = 3 << 30,
                   valid_finite: bool = True) -> str | None:
    """The problem with ``run`` on ``arguments`` with ``argument`` replaced by ``mutation``
    (a sentence), or ``None`` when the contract holds. ``valid_finite``: the valid call's
    result is finite, so a finite result is demanded."""
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
        if not _names(message, argument, aliases):
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
        same = dict(arguments, **{argument: mutation.reference(valid)})
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
    base = arguments()
    valid = _guarded(lambda: run(base), timeout, memory)
    valid_finite = all(bool(torch.isfinite(t).all()) for t in _tensors(valid)
                       if t.is_floating_point())
    tensors = sum(1 for v in base.values() if isinstance(v, Tensor))
    out = []
    for name, value in base.items():
        if name in fixed:
            continue
        for mutation in mutations(value, tensors=tensors, free_text=name in free_text):
            problem = check_mutation(run, arguments(), name, mutation,
                                     aliases=(aliases or {}).get(name, ()), timeout=timeout,
                                     memory=memory, valid_finite=valid_finite)
            if problem is not None:
                out.append(Violation(name, mutation.label, problem))
    return out


def count_cases(arguments: Callable[[], dict[str, Any]], *, fixed: Collection[str] = (),
                free_text: Collection[str] = ()) -> int:
    """How many hostile calls :func:`check_contract` makes over ``arguments``."""
    base = arguments()
    tensors = sum(1 for v in base.values() if isinstance(v, Tensor))
    return sum(len(mutations(v, tensors=tensors, free_text=n in free_text))
               for n, v in base.items() if n not in fixed)


def assert_contract(run: Callable[[dict[str, Any]], Any],
                    arguments: Callable[[], dict[str, Any]], *, name: str = "the call",
                    **options: Any) -> None:
    """Raise ``AssertionError`` listing every violation of :func:`check_contract`."""
    violations = check_contract(run, arguments, **options)
    if violations:
        lines = "\n  ".join(str(v) for v in violations)
        raise AssertionError(f"{name}: {len(violations)} violations of the boundary "
                             f"contract:\n  {lines}")
