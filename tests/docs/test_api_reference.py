"""The API reference covers every public name: each name in a package's ``__all__`` has a
directive on the package's page and each directive names an exported object (no stale entry).

The pages are read as text (their ``.. auto*::`` and ``.. py:*::`` directives); Sphinx is not
run here.
"""

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[2] / "docs" / "api"
PACKAGES = ("algebra", "groups", "interaction", "ops", "nn", "zoo", "symmetry", "spans",
            "sparse", "hypercube", "data", "train", "storage", "checks", "families", "testing",
            "search")
DIRECTIVE = re.compile(r"^\.\. (?:auto|py:)(?:class|function|data|module)::\s+(\S+)", re.M)


def documented(package: str) -> list[str]:
    """The names the package's page documents, in page order."""
    return DIRECTIVE.findall((API / f"{package}.rst").read_text(encoding="utf-8"))


def test_every_package_has_a_page_in_the_index() -> None:
    index = (API / "index.md").read_text(encoding="utf-8")
    listed = re.search(r"```\{toctree\}\n(.*?)```", index, re.S).group(1)  # type: ignore[union-attr]
    entries = [line.strip() for line in listed.splitlines()
               if line.strip() and not line.startswith(":")]
    assert sorted(entries) == sorted(PACKAGES)
    assert sorted(path.stem for path in API.glob("*.rst")) == sorted(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_page_documents_the_public_names(package: str) -> None:
    module = importlib.import_module(f"prodint.{package}")
    names = documented(package)
    assert names[0] == module.__name__, "the page opens with the package's docstring"
    assert len(names) == len(set(names)), "a name is documented twice"
    if hasattr(module, "__all__"):
        expected = {f"{module.__name__}.{name}" for name in module.__all__}
    else:  # imported by module: every public module is documented whole
        expected = {f"{module.__name__}.{info.name}" for info in pkgutil.iter_modules(
            module.__path__) if not info.name.startswith("_")}
    assert set(names[1:]) == expected


def test_modules_without_all_are_documented_with_their_members() -> None:
    for package in ("data", "train"):
        text = (API / f"{package}.rst").read_text(encoding="utf-8")
        blocks = re.findall(r"^\.\. automodule:: (\S+)\n((?:   :\S+:.*\n)*)", text, re.M)
        members = {name for name, options in blocks if ":members:" in options}
        assert members == set(documented(package)[1:]), package
