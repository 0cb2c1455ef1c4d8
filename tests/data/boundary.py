"""Boundary entries of prodint.data: the Shakespeare corpus, the polycube task, the image
sets, the sequence tasks and the electricity series.

The corpus entries use a tiny text (and a folder of two tiny ``*_gut.txt`` files); only
``CharCorpus.shakespeare`` and ``texts_folder`` touch the installed works. Fashion-MNIST is
read from a folder of tiny idx files written here; the digits come from scikit-learn.
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import torch

from prodint.data.electricity import load_electricity
from prodint.data.images import ImageSet, load_images
from prodint.data.polycubes import make_polycubes, shape_points
from prodint.data.sequences import SequenceSet, copy_task, modular_table, sequential
from prodint.data.shakespeare import CharCorpus, load_text, texts_folder
from prodint.testing.contract import Entry

TEXT = "to be, or not to be, that is the question. " * 4

_FOLDER = tempfile.TemporaryDirectory(prefix="prodint-data-boundary-")
for _name, _text in (("a_gut.txt", "to be or not"), ("b_gut.txt", "that is the question")):
    (Path(_FOLDER.name) / _name).write_text(_text, encoding="ascii")

_FASHION = tempfile.TemporaryDirectory(prefix="prodint-data-boundary-fashion-")
for _prefix in ("train", "t10k"):  # three 4x4 images, labels 0, 9, 2
    (Path(_FASHION.name) / f"{_prefix}-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 2051, 3, 4, 4) + bytes(range(0, 240, 5)))
    (Path(_FASHION.name) / f"{_prefix}-labels-idx1-ubyte").write_bytes(
        struct.pack(">II", 2049, 3) + bytes([0, 9, 2]))


def _corpus() -> CharCorpus:
    return CharCorpus.from_text(TEXT, 0.25)


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _ids() -> torch.Tensor:
    return torch.tensor([3, 0, 5, 1])


def _images() -> ImageSet:
    return ImageSet(torch.linspace(0, 1, 3 * 6).reshape(3, 1, 2, 3), torch.tensor([0, 2, 1]),
                    3, "tiny")


def _pair(s: ImageSet | SequenceSet) -> tuple[torch.Tensor, torch.Tensor]:
    return (s.images, s.labels) if isinstance(s, ImageSet) else (s.inputs, s.targets)


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
    Entry(("prodint.data.images.ImageSet",), lambda a: _pair(ImageSet(**a)),
          lambda: dict(images=_images().images, labels=torch.tensor([0, 1, 1]),
                       classes=2, name="tiny"), free_text=frozenset({"name"})),
    Entry(("prodint.data.images.load_images",), lambda a: _pair(load_images(**a)),
          lambda: dict(name="digits", split="test", seed=0, test_fraction=0.2, root=None)),
    Entry(("prodint.data.images.load_images",), lambda a: _pair(load_images(**a)),
          lambda: dict(name="fashion", split="train", seed=0, test_fraction=0.2,
                       root=_FASHION.name)),
    Entry(("prodint.data.sequences.SequenceSet",), lambda a: _pair(SequenceSet(**a)),
          lambda: dict(inputs=torch.tensor([[0, 3, 1], [2, 2, 0]]),
                       targets=torch.tensor([[1, 0, 0], [0, 3, 2]]), classes=4, vocab=4,
                       name="tokens"), free_text=frozenset({"name"})),
    Entry(("prodint.data.sequences.SequenceSet",), lambda a: _pair(SequenceSet(**a)),
          lambda: dict(inputs=torch.linspace(-1, 1, 12).reshape(2, 3, 2),
                       targets=torch.tensor([[0.5], [-2.0]]), classes=None,
                       vocab=None, name="features"), free_text=frozenset({"name"})),
    Entry(("prodint.data.sequences.SequenceSet",), lambda a: _pair(SequenceSet(**a)),
          lambda: dict(inputs=torch.linspace(0, 1, 6).reshape(2, 3, 1),
                       targets=torch.tensor([1, 0]), classes=2,
                       vocab=None, name="classes"), free_text=frozenset({"name"})),
    Entry(("prodint.data.sequences.sequential",), lambda a: _pair(sequential(**a)),
          lambda: dict(images=_images(), permute=True, seed=0)),
    Entry(("prodint.data.sequences.copy_task",), lambda a: _pair(copy_task(**a)),
          lambda: dict(count=3, length=2, alphabet=3, delay=1, seed=0)),
    Entry(("prodint.data.sequences.modular_table",), lambda a: modular_table(**a),
          lambda: dict(p=5, operation="mul")),
    Entry(("prodint.data.electricity.load_electricity",),
          lambda a: _pair(load_electricity(**a)),
          lambda: dict(split="test", window=4, horizon=2, test_fraction=0.2)),
]

EXEMPT = {
    "prodint.data.electricity.ELECTRICITY_COLUMNS": "a constant: the input features' names",
    "prodint.data.images.FASHION_ROOT": "a constant: the default Fashion-MNIST folder",
    "prodint.data.images.IMAGE_SETS": "a constant: the names of the image sets",
    "prodint.data.sequences.MODULAR_OPERATIONS": "a constant: the table operations",
    "prodint.data.polycubes.CLASSES": "a constant: the class names",
    "prodint.data.polycubes.SHAPES": "a constant: the cube centres of every class",
}
