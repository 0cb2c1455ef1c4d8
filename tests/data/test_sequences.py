"""Sequence tasks: pixel-by-pixel images (plain and permuted), the copy task, modular tables,
and the checks of a sequence set."""

from __future__ import annotations

import pytest
import torch

from prodint.data.images import ImageSet, load_images
from prodint.data.sequences import SequenceSet, copy_task, modular_table, sequential


def _numbered(n: int, h: int, w: int) -> ImageSet:
    """Images whose pixels are all distinct: pixel k of image i is (i*h*w + k) / (n*h*w)."""
    x = torch.arange(n * h * w, dtype=torch.float64).reshape(n, 1, h, w) / (n * h * w)
    return ImageSet(x.float(), torch.arange(n) % 3, 3, "numbered")


def test_sequential_reads_rows_left_to_right() -> None:
    images = load_images("digits", "test")
    s = sequential(images)
    assert s.inputs.shape == (len(images), 64, 1) and s.inputs.dtype == torch.float32
    assert torch.equal(s.targets, images.labels) and s.targets.dtype == torch.int64
    assert s.classes == 10 and s.vocab is None and s.name == "sequential-digits"
    for n in (0, 5, len(images) - 1):
        for i in range(8):
            for j in range(8):
                assert s.inputs[n, 8 * i + j, 0] == images.images[n, 0, i, j]


def test_permuted_is_one_permutation_for_every_image() -> None:
    n, h, w = 4, 3, 5
    images = _numbered(n, h, w)
    s = sequential(images, permute=True, seed=3)
    assert s.inputs.shape == (n, h * w, 1) and s.name == "permuted-numbered"
    codes = torch.round(s.inputs[..., 0].double() * n * h * w).long()  # i*h*w + source pixel
    order = codes - torch.arange(n)[:, None] * h * w
    assert torch.equal(order.sort(dim=1).values, torch.arange(h * w).expand(n, -1))
    assert torch.equal(order, order[:1].expand(n, -1))  # the same for every image
    assert not torch.equal(order[0], torch.arange(h * w))
    again = sequential(images, permute=True, seed=3)
    assert torch.equal(again.inputs, s.inputs)
    assert not torch.equal(sequential(images, permute=True, seed=4).inputs, s.inputs)
    digits = load_images("digits", "test")
    plain, mixed = sequential(digits), sequential(digits, permute=True)
    assert torch.equal(plain.inputs.sort(dim=1).values, mixed.inputs.sort(dim=1).values)
    assert torch.equal(mixed.targets, digits.labels)


def test_copy_task_layout() -> None:
    length, alphabet, delay = 4, 5, 3
    s = copy_task(200, length=length, alphabet=alphabet, delay=delay, seed=1)
    steps = 2 * length + delay + 1
    assert s.inputs.shape == s.targets.shape == (200, steps)
    assert s.inputs.dtype == s.targets.dtype == torch.int64
    assert s.vocab == s.classes == alphabet + 2 and s.name == "copy"
    for row, target in zip(s.inputs.tolist(), s.targets.tolist(), strict=True):
        symbols = row[:length]
        assert all(1 <= v <= alphabet for v in symbols)
        assert row[length:] == [0] * delay + [alphabet + 1] + [0] * length
        assert target == [0] * (length + delay + 1) + symbols
    assert set(s.inputs[:, :length].flatten().tolist()) == set(range(1, alphabet + 1))
    assert torch.equal(copy_task(200, length=length, alphabet=alphabet, delay=delay,
                                 seed=1).inputs, s.inputs)
    assert not torch.equal(copy_task(200, length=length, alphabet=alphabet, delay=delay,
                                     seed=2).inputs, s.inputs)
    default = copy_task(1)
    assert default.inputs.shape == (1, 31) and default.vocab == 10
    assert copy_task(3, delay=0).inputs[:, 10].eq(9).all()


@pytest.mark.parametrize(("operation", "op"), [("add", lambda a, b: a + b),
                                               ("sub", lambda a, b: a - b),
                                               ("mul", lambda a, b: a * b)])
def test_modular_table_is_the_double_loop(operation: str, op) -> None:
    for p in (1, 2, 7, 13):
        table = modular_table(p, operation)
        assert table.dtype == torch.int64 and table.shape == (p, p)
        assert table.tolist() == [[op(a, b) % p for b in range(p)] for a in range(p)]
    assert torch.equal(modular_table(5), modular_table(5, "add"))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"operation: expected one of 'add', 'sub', 'mul', "
                                         r"received 'div'"):
        modular_table(5, "div")
    for bad in (0, -3):
        with pytest.raises(ValueError, match=rf"p: expected a positive int, received {bad}"):
            modular_table(bad)
        with pytest.raises(ValueError, match=rf"count: expected a positive int, received {bad}"):
            copy_task(bad)
        with pytest.raises(ValueError, match=rf"length: expected a positive int, received "
                                             rf"{bad}"):
            copy_task(2, length=bad)
        with pytest.raises(ValueError, match=r"alphabet: expected an int in \[1, "):
            copy_task(2, alphabet=bad)
    with pytest.raises(TypeError, match=r"p: expected an int, received True"):
        modular_table(True)
    with pytest.raises(TypeError, match=r"count: expected an int, received 2.0"):
        copy_task(2.0)
    with pytest.raises(ValueError, match=r"delay: expected an int >= 0, received -1"):
        copy_task(2, delay=-1)
    with pytest.raises(ValueError, match=r"count: expected a size for which"):
        copy_task(2**40, length=100)
    with pytest.raises(ValueError, match=r"p: expected a size for which"):
        modular_table(2**30)
    with pytest.raises(TypeError, match=r"images: expected a ImageSet, received"):
        sequential(torch.rand(2, 1, 3, 3))
    with pytest.raises(TypeError, match=r"permute: expected a bool, received 1"):
        sequential(_numbered(2, 2, 2), permute=1)
    with pytest.raises(ValueError, match=r"seed: expected an int in \[0, "):
        sequential(_numbered(2, 2, 2), seed=-1)


def test_a_sequence_set_checks_its_fields() -> None:
    tokens = torch.tensor([[0, 3, 1], [2, 2, 0]], dtype=torch.int32)
    s = SequenceSet(tokens, tokens.clone(), 4, 4, "t")
    assert len(s) == 2 and s.inputs.dtype == s.targets.dtype == torch.int64
    with pytest.raises(ValueError, match=r"inputs: expected tokens in \[0, 3\), received "
                                         r"values in \[0, 3\]"):
        SequenceSet(tokens, tokens, 4, 3, "t")
    with pytest.raises(ValueError, match=r"targets: expected classes in \[0, 3\)"):
        SequenceSet(tokens, tokens, 3, 4, "t")
    with pytest.raises(TypeError, match=r"vocab: expected an int, received None"):
        SequenceSet(tokens, tokens, 4, None, "t")
    features = torch.rand(2, 3, 2)
    with pytest.raises(ValueError, match=r"vocab: expected None for feature inputs"):
        SequenceSet(features, torch.tensor([0, 1]), 2, 4, "f")
    with pytest.raises(ValueError, match=r"classes: expected None with regression targets"):
        SequenceSet(features, torch.rand(2, 1), 2, None, "f")
    with pytest.raises(ValueError, match=r"targets: expected float32 regression targets of "
                                         r"shape \[N, horizon\]"):
        SequenceSet(features, torch.rand(2), None, None, "f")
    with pytest.raises(ValueError, match=r"targets: expected 2 rows"):
        SequenceSet(features, torch.tensor([0, 1, 1]), 2, None, "f")
    with pytest.raises(ValueError, match=r"targets: expected per-step targets"):
        SequenceSet(features, torch.zeros(2, 3, dtype=torch.int64), 2, None, "f")
    with pytest.raises(TypeError, match=r"inputs: expected float32 \[N, T, F\] features or "
                                        r"integer \[N, T\] tokens"):
        SequenceSet(tokens.float(), tokens, 4, 4, "t")
