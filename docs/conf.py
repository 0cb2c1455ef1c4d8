"""Sphinx configuration: offline, warnings as errors (``sphinx-build -W``).

The API reference is autodoc over each package's ``__all__`` (Google-style docstrings read by
napoleon), prose pages are MyST Markdown and the tutorials are sphinx-gallery scripts, run at
build time.
"""

import os
import sys
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("MPLBACKEND", "agg")

project = "prodint"
author = "prodint contributors"
copyright = "prodint contributors"
release = version = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "tutorials", "auto_tutorials/*.ipynb",
                    "auto_tutorials/*.py", "auto_tutorials/*.zip", "**/*.codeobj.json"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True
# Napoleon states a class's Attributes as ``:ivar name:`` fields, whose names Sphinx looks up as
# cross-references; a name that several classes share (``device``) has no single target and
# stays plain text.
suppress_warnings = ["ref.python"]

# Formulas are written in Unicode, so no page loads a math renderer from the network; the build
# makes no request either (no intersphinx, no remote images).

html_theme = "furo"
html_title = "prodint"
html_static_path: list[str] = []

sphinx_gallery_conf = {
    "examples_dirs": "tutorials",
    "gallery_dirs": "auto_tutorials",
    "filename_pattern": r"\.py$",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "show_memory": False,
    "show_signature": False,
    "capture_repr": (),  # the tutorials print what they show
    # the execution-times pages load their table scripts from the network
    "write_computation_times": False,
}


def _attribute_docstring(app: Sphinx, what: str, name: str, obj: object,
                         options: object, lines: list[str]) -> None:
    """A constant exported by a package is documented by the ``#:`` comment where it is
    defined, not by the docstring of its type (``dict``, ``tuple``, ``LieGroup``)."""
    if what != "data":
        return
    package, _, attribute = name.rpartition(".")
    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith(package + ".") or getattr(module, attribute, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        except PycodeError:
            continue
        if ("", attribute) in docs:
            lines[:] = list(docs[("", attribute)])
            return
    lines[:] = []


def setup(app: Sphinx) -> None:
    """Connect the documentation of exported constants."""
    app.connect("autodoc-process-docstring", _attribute_docstring)
