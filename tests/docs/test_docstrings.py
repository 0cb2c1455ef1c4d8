"""The docstrings of the library: their ``>>>`` examples run (stdlib ``doctest``), and every
reference they make to a name of prodint or to a file of the repository resolves."""

import ast
import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import prodint

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "prodint"
#: Sphinx roles naming an object of prodint: ``:func:`~prodint.spans.lower```.
ROLE = re.compile(r":(?:mod|func|class|meth|data|attr|obj|exc):`~?(prodint(?:\.\w+)+)`")
#: Paths into the repository's own folders: ``tests/test_families.py``.
PATH = re.compile(r"\b((?:src|tests|docs|examples|benchmarks)/[\w./-]*\w)")

MODULES = sorted(info.name for info in pkgutil.walk_packages(prodint.__path__, "prodint.")
                 if not info.name.endswith("__main__"))


def docstrings(path: Path) -> list[str]:
    """Every docstring of a source file: the module's, its classes' and functions'."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return [doc for node in ast.walk(tree) if isinstance(node, kinds)
            and (doc := ast.get_docstring(node)) is not None]


def resolves(target: str) -> bool:
    """Whether ``prodint.a.b.c`` is a module or an attribute reached from one."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            if not hasattr(found, part):
                return False
            found = getattr(found, part)
        return True
    return False


def test_the_examples_are_collected() -> None:
    finder = doctest.DocTestFinder()
    examples = sum(len(test.examples) for name in MODULES
                   for test in finder.find(importlib.import_module(name)))
    assert examples >= 30


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(module):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_references_to_prodint_names_resolve() -> None:
    stale = {(str(path.relative_to(ROOT)), target)
             for path in SOURCE.rglob("*.py") for doc in docstrings(path)
             for target in ROLE.findall(doc) if not resolves(target)}
    assert not stale


def test_references_to_repository_files_exist() -> None:
    missing = {(str(path.relative_to(ROOT)), target)
               for path in SOURCE.rglob("*.py") for doc in docstrings(path)
               for target in PATH.findall(doc) if not (ROOT / target).exists()}
    assert not missing
    assert not [path for path in SOURCE.rglob("*.py")
                if "DESIGN.md" in path.read_text(encoding="utf-8")]
