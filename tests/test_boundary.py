"""The boundary contract of every public entry point (``prodint.testing.contract``).

Each package's ``tests/<package>/boundary.py`` lists its entry points as
:class:`~prodint.testing.contract.Entry` values (``ENTRIES``) and the exported names that are
not entry points, with the reason (``EXEMPT``: a NamedTuple of state, a constant, a type
alias). This file runs them all:

- ``test_contract``: every catalogued hostile variant of every argument
  (:func:`~prodint.testing.mutations.mutations`) gives a clear error naming the argument or a
  correct result; no other exception, no hang, no attempt at a huge allocation;
- ``test_random_values``: the same contract for values hypothesis draws (ints and floats of
  any size and sign, NaN and inf, random shapes of random tensors), under a fixed profile so
  that CI runs the same cases every time;
- ``test_every_public_name_is_covered``: every name in every package's ``__all__`` is
  exercised by an entry or exempted with a reason, so a new public name is fuzzed by being
  exported.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import prodint
from prodint.testing.contract import Entry, check_contract, check_mutation
from prodint.testing.mutations import Mutation

HERE = Path(__file__).parent


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"boundary_{path.parent.name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: ``PRODINT_BOUNDARY=algebra,groups`` loads only those packages' entries (while working on
#: one package); unset, every package's.
ONLY = {p for p in os.environ.get("PRODINT_BOUNDARY", "").split(",") if p}
SPECS = [_load(p) for p in sorted(HERE.glob("*/boundary.py"))
         if not ONLY or p.parent.name in ONLY]
ENTRIES: list[Entry] = [e for m in SPECS for e in m.ENTRIES]
EXEMPT: dict[str, str] = {k: v for m in SPECS for k, v in getattr(m, "EXEMPT", {}).items()}

#: Fixed and bounded: the same 8 draws per entry on every run, and no shrinking (a failing
#: draw is reported as drawn; shrinking a slow failure would multiply its time).
PROFILE = settings(max_examples=8, derandomize=True, database=None, deadline=None,
                   suppress_health_check=list(HealthCheck),
                   phases=[Phase.explicit, Phase.reuse, Phase.generate])


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_contract(entry: Entry) -> None:
    violations = check_contract(entry.run, entry.arguments, fixed=entry.fixed,
                                free_text=entry.free_text, aliases=entry.aliases)
    assert not violations, "\n".join(str(v) for v in violations)


def _random_value(draw: Any, value: object) -> tuple[object, bool]:
    """A random value of the kind of ``value``, and whether it must be refused."""
    if isinstance(value, bool):
        return draw(st.sampled_from([0, 1, "true", None, 2.0])), True
    if isinstance(value, int):
        return draw(st.integers(min_value=-(10**20), max_value=10**20)), False
    if isinstance(value, float):
        x = draw(st.floats(allow_nan=True, allow_infinity=True))
        return x, x != x
    if isinstance(value, torch.Tensor):
        shape = draw(st.lists(st.integers(0, 5), max_size=max(4, value.dim() + 1)))
        if value.is_floating_point():
            return torch.randn(shape, dtype=value.dtype), False
        if value.dtype == torch.bool:
            return torch.rand(shape) < 0.5, False
        return torch.randint(-3, 8, shape, dtype=value.dtype), False
    if isinstance(value, str):
        return draw(st.text(max_size=6)), False
    return draw(st.sampled_from([None, 0, -1, 1.5, "x"])), False


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_random_values(entry: Entry) -> None:
    names = [n for n in entry.arguments() if n not in entry.fixed]
    if not names:
        pytest.skip("no argument to vary")

    @PROFILE
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        arguments = entry.arguments()
        name = data.draw(st.sampled_from(names), label="argument")
        value, must_raise = _random_value(data.draw, arguments[name])
        if isinstance(arguments[name], str) and name in entry.free_text:
            must_raise = False
        mutation = Mutation(f"random {value!r:.60}", lambda v: value, must_raise=must_raise)
        problem = check_mutation(entry.run, entry.arguments, name, mutation,
                                 aliases=entry.aliases.get(name, ()))
        assert problem is None, f"{name} <- {mutation.label}: {problem}"

    check()


def _public_objects() -> list[list[str]]:
    """The public objects (every name in the ``__all__`` of every package, of every top-level
    module, and of the modules of packages that do not export them), each with all the
    qualified names it is exported under (``prodint.ops.tensor_attention`` and
    ``prodint.ops.tensor_attention.tensor_attention`` are one function)."""
    by_id: dict[int, list[str]] = {}
    for info in pkgutil.walk_packages(prodint.__path__, "prodint."):
        parent = importlib.import_module(info.name.rsplit(".", 1)[0])
        if not info.ispkg and parent is not prodint and hasattr(parent, "__all__"):
            continue  # the package exports its modules' public names itself
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not inspect.ismodule(obj):
                by_id.setdefault(id(obj), []).append(f"{info.name}.{name}")
    return [sorted(names, key=len) for names in by_id.values()]


def _package(name: str) -> str:
    """The directory of ``tests`` that holds the boundary entries of a public name."""
    parts = name.split(".")
    return parts[1] if len(parts) > 2 else "top"


def test_every_public_name_is_covered() -> None:
    covered = {n for e in ENTRIES for n in e.names} | set(EXEMPT)
    loaded = {m.__name__.removeprefix("boundary_") for m in SPECS}
    # a full run demands every package's names; a run restricted to some packages theirs
    missing = sorted(names[0] for names in _public_objects()
                     if not covered & set(names) and (not ONLY or _package(names[0]) in loaded))
    assert not missing, f"{len(missing)} public names in no boundary entry: {missing}"


def test_entries_and_exemptions_name_real_objects() -> None:
    public = {n for names in _public_objects() for n in names}
    stale = sorted(n for n in {n for e in ENTRIES for n in e.names} | set(EXEMPT)
                   if n not in public)
    assert not stale, f"entries or exemptions for names that are not exported: {stale}"
