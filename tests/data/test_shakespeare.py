"""The offline Shakespeare corpus: contents, encoding round trip, splits, batches, errors."""

import pytest
import torch

from prodint.data.shakespeare import CharCorpus, load_text, texts_folder


def test_corpus_is_the_modern_spelling_works() -> None:
    folder = texts_folder()
    modern = sorted(folder.glob("*_gut.txt"))
    assert len(modern) >= 35  # the plays and poems, each once
    text = load_text()
    assert 4_000_000 < len(text) < 6_000_000
    assert "To be, or not to be" in text and "HAMLET, PRINCE OF DENMARK" in text
    assert text.isascii()


def test_split_and_round_trip() -> None:
    text = "to be or not to be, that is the question\n" * 20
    corpus = CharCorpus.from_text(text, validation_fraction=0.1)
    assert corpus.alphabet == "".join(sorted(set(text)))
    assert len(corpus.train) + len(corpus.validation) == len(text)
    assert len(corpus.validation) == round(0.1 * len(text))
    assert corpus.decode(torch.cat([corpus.train, corpus.validation])) == text
    assert torch.equal(corpus.encode("to be"), torch.tensor([corpus.alphabet.index(c)
                                                              for c in "to be"]))


def test_batches_are_next_character_pairs() -> None:
    corpus = CharCorpus.from_text("abcdefghijklmnopqrstuvwxyz" * 10, 0.2)
    g = torch.Generator().manual_seed(0)
    x, y = corpus.batch("train", 5, 12, g)
    assert x.shape == y.shape == (5, 12)
    assert torch.equal((x + 1) % 26, y)  # the alphabet is consecutive: y is x shifted by one
    wx, wy = corpus.windows("validation", 7)
    assert wx.shape == ((len(corpus.validation) - 1) // 7, 7)
    assert torch.equal(wx.flatten()[1:], wy.flatten()[:-1])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(corpus.batch("train", 2, 4, g1)[0], corpus.batch("train", 2, 4, g2)[0])


def test_bad_input() -> None:
    corpus = CharCorpus.from_text("hello world " * 5, 0.2)
    with pytest.raises(ValueError, match=r"split: expected 'train' or 'validation', "
                                         r"received 'test'"):
        corpus.batch("test", 1, 2, torch.Generator())
    with pytest.raises(ValueError, match="length: expected"):
        corpus.batch("validation", 1, 1000, torch.Generator())
    with pytest.raises(ValueError, match=r"text: expected characters of the corpus alphabet, "
                                         r"received 'Z'"):
        corpus.encode("hello Z")
    with pytest.raises(ValueError, match="validation_fraction: expected a finite number > 0"):
        CharCorpus.from_text("abc", 1.5)


def test_decode_refuses_ids_outside_the_alphabet_instead_of_wrapping() -> None:
    corpus = CharCorpus.from_text("abc", 0.4)
    assert corpus.decode(torch.tensor([2, 0])) == "ca"
    with pytest.raises(ValueError, match=r"ids: expected ids in \[0, 3\), received ids in "
                                         r"\[-1, 0\]"):
        corpus.decode(torch.tensor([-1, 0]))  # alphabet[-1] would be a silent "c"
    with pytest.raises(TypeError, match=r"ids: expected dtype .*int64, received torch.float32"):
        corpus.decode(torch.tensor([1.0]))


def test_a_corpus_checks_its_fields() -> None:
    with pytest.raises(ValueError, match=r"alphabet: expected distinct characters"):
        CharCorpus("aa", torch.tensor([0]), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"validation: expected ids in \[0, 2\)"):
        CharCorpus("ab", torch.tensor([0, 1]), torch.tensor([2]))
    with pytest.raises(ValueError, match=r"train: expected a tensor of rank 1"):
        CharCorpus("ab", torch.tensor([[0, 1]]), torch.tensor([1]))


def test_batch_sizes_are_checked_before_allocating() -> None:
    corpus = CharCorpus.from_text("hello world " * 5, 0.2)
    with pytest.raises(ValueError, match=r"batch: expected a size for which 1099511627776 windows "
                                         r"of 5 ids fits in .* would need about 160\.0 TiB"):
        corpus.batch("train", 2**40, 4, torch.Generator())
    with pytest.raises(TypeError, match=r"batch: expected an int, received 2\.0"):
        corpus.batch("train", 2.0, 4, torch.Generator())
    with pytest.raises(TypeError, match=r"generator: expected a torch\.Generator"):
        corpus.batch("train", 2, 4, 0)


def test_load_text_names_its_folder(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"folder: expected a folder of \*_gut\.txt files"):
        load_text(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"folder: expected \*_gut\.txt files in .*, found none"):
        load_text(tmp_path)
    (tmp_path / "a_gut.txt").write_bytes(b"caf\xc3\xa9")
    with pytest.raises(ValueError, match=r"folder: expected ASCII texts, received a_gut\.txt"):
        load_text(tmp_path)
    with pytest.raises(TypeError, match=r"folder: expected a str, an os\.PathLike or None"):
        load_text(3)
